"""Fixtures for the tracker tests (the clips themselves are made in tracker_clips.py)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from tracker_clips import Clip, load_davis, make_clip


@pytest.fixture(scope="session")
def clip() -> Clip:
    return make_clip()


@pytest.fixture(scope="session")
def davis() -> tuple[list[npt.NDArray[np.uint8]], list[npt.NDArray[np.bool_]]]:
    return load_davis()
