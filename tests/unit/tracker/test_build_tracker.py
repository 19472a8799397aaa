"""Choosing a tracker backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapmask_tracker.core import TrackingError, build_tracker
from tapmask_tracker.core.cpu_backend import CpuTracker


def test_auto_without_checkpoint_is_the_weight_free_cpu_tracker() -> None:
    tracker = build_tracker("auto")
    assert isinstance(tracker, CpuTracker)
    assert tracker.max_side is not None


def test_auto_with_checkpoint_but_no_cuda_stays_on_cpu(tmp_path: Path) -> None:
    import torch

    checkpoint = tmp_path / "sam2.1_hiera_tiny.pt"
    checkpoint.write_bytes(b"not used")
    tracker = build_tracker("auto", sam2_checkpoint=checkpoint)
    assert isinstance(tracker, CpuTracker) != torch.cuda.is_available()


def test_unknown_backend_is_named() -> None:
    with pytest.raises(TrackingError, match="unknown tracker backend 'gpu'"):
        build_tracker("gpu")


def test_sam2_needs_an_existing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(TrackingError, match="needs a checkpoint"):
        build_tracker("sam2")
    with pytest.raises(TrackingError, match="checkpoint not found"):
        build_tracker("sam2", sam2_checkpoint=tmp_path / "missing.pt")
