"""The gateway's local copies of uploads (for frames and the mask preview) stay within
their byte budget, and a shown upload is downloaded once, not on every frame."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tapmask_gateway.adapters.preview import BadUpload, UploadFrames
from tapmask_gateway.settings import PreviewSettings, VideoLimits

VIDEOS = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "videos"


class FolderStore:
    """Uploads are files of a folder; counts the downloads."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.downloads: list[str] = []

    def download(self, key: str, dest: Path) -> None:
        self.downloads.append(key)
        shutil.copyfile(self.files[key], dest)


def _frames(store: Any, tmp_path: Path, cache_bytes: int) -> UploadFrames:
    settings = PreviewSettings(cache_dir=tmp_path, cache_bytes=cache_bytes)
    return UploadFrames(store, settings, VideoLimits())


def test_frames_of_a_shown_upload_come_from_one_download(tmp_path: Path) -> None:
    store = FolderStore({"uploads/a.mp4": VIDEOS / "02_cups.mp4"})
    frames = _frames(store, tmp_path, 10 * 1024**2)
    size = (VIDEOS / "02_cups.mp4").stat().st_size
    assert frames.frame("uploads/a.mp4", size, 0).shape == (720, 1280, 3)
    assert frames.frame("uploads/a.mp4", size, 299).shape == (720, 1280, 3)
    assert store.downloads == ["uploads/a.mp4"]
    with pytest.raises(BadUpload, match="frame 300 does not exist: the video has 300 frames"):
        frames.frame("uploads/a.mp4", size, 300)
    frames.close()
    assert not list(tmp_path.rglob("*.mp4"))


def test_the_oldest_copies_go_when_the_budget_is_spent(tmp_path: Path) -> None:
    names = ["01_dog.mp4", "02_cups.mp4", "04_coffee.mp4"]
    store = FolderStore({f"uploads/{n}": VIDEOS / n for n in names})
    sizes = {f"uploads/{n}": (VIDEOS / n).stat().st_size for n in names}
    # Room for two of the three (each is 1.2-2.5 MB).
    frames = _frames(store, tmp_path, 5 * 1024**2)
    for key in sizes:
        frames.video(key, sizes[key])
    kept = sum(p.stat().st_size for p in tmp_path.rglob("*.mp4"))
    assert kept <= 5 * 1024**2
    assert len(list(tmp_path.rglob("*.mp4"))) == 2
    frames.video("uploads/01_dog.mp4", sizes["uploads/01_dog.mp4"])  # the evicted one
    assert store.downloads.count("uploads/01_dog.mp4") == 2
    frames.close()


def test_an_upload_of_another_size_than_announced_is_refused(tmp_path: Path) -> None:
    store = FolderStore({"uploads/a.mp4": VIDEOS / "02_cups.mp4"})
    frames = _frames(store, tmp_path, 10 * 1024**2)
    with pytest.raises(BadUpload, match="were announced"):
        frames.video("uploads/a.mp4", 1234)
    frames.close()
