"""``tapmask process --faces`` on the shared clips: every hand-labelled face hidden, alone or
with a clicked object in the same job, and a clip with no face left as it was.

The labels are ``bench/face_labels.json`` (face boxes checked by eye on a 2x crop). The
effect is ``fill`` in a colour no clip has at those places, so "hidden" is checked pixel by
pixel: a face box counts as hidden when nearly all its pixels are the fill colour."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from cli_helpers import frames_rgb, run_tapmask

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"
LABELS = json.loads((ROOT / "bench" / "face_labels.json").read_text())
MAGENTA = np.array([255, 0, 255])


def filled_share(rgb: np.ndarray, box: list[int]) -> float:
    """Share of the box's pixels that show the fill colour (within the codec's error)."""
    x0, y0, x1, y1 = box
    patch = rgb[y0:y1, x0:x1].astype(np.int16)
    return float((np.abs(patch - MAGENTA).max(axis=2) < 48).mean())


def labelled_faces_hidden(out: Path, clip: str) -> None:
    labels = {int(k): v for k, v in LABELS["faces"][clip].items()}
    seen = 0
    for i, rgb in frames_rgb(out):
        for box in labels.get(i, []):
            share = filled_share(rgb, box)
            assert share > 0.99, f"{clip} frame {i}: face {box} only {share:.0%} hidden"
            seen += 1
    assert seen == sum(len(v) for v in labels.values())


@pytest.mark.parametrize("clip", ["bedroom.mp4", "05_default_juggle.mp4"])
def test_every_labelled_face_is_hidden_with_no_click(clip: str, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    run = run_tapmask(
        "process", VIDEOS / clip, "-o", out, "--faces", "--mode", "fill", "--color", "255,0,255"
    )
    assert run.returncode == 0, run.stderr
    assert "tracker: faces" in run.stderr
    labelled_faces_hidden(out, clip)


def test_faces_and_a_clicked_dog_are_hidden_in_one_job(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    dog = (600, 427)  # the manifest's click on the dog, frame 0
    run = run_tapmask(
        "process",
        VIDEOS / "01_dog.mp4",
        "-o",
        out,
        "--point",
        f"{dog[0]},{dog[1]}",
        "--faces",
        "--mode",
        "fill",
        "--color",
        "255,0,255",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    done = json.loads(run.stdout.strip().splitlines()[-1])
    assert done["tracker_backend"] == "cpu+faces"
    labelled_faces_hidden(out, "01_dog.mp4")
    _, first = next(frames_rgb(out))
    assert filled_share(first, [dog[0] - 4, dog[1] - 4, dog[0] + 4, dog[1] + 4]) > 0.99


def face_detail(rgb: np.ndarray, box: list[int]) -> np.ndarray:
    """The picture's detail at the scale of eyes, nostrils and mouth (a tenth of a face):
    grey, band-passed between Gaussians of 2 and 6 px, inside the face's box."""
    x0, y0, x1, y1 = box
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    band = cv2.GaussianBlur(grey, (0, 0), 2) - cv2.GaussianBlur(grey, (0, 0), 6)
    return np.asarray(band[y0:y1, x0:x1], dtype=np.float64).ravel()


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_a_blurred_or_pixelated_face_keeps_nothing_of_its_features(
    mode: str, tmp_path: Path
) -> None:
    """The juggler's sharp face: after --faces blur or pixelate, what is left at the scale of
    his eyes and mouth no longer follows the face (correlation with the original's detail
    near 0). A softening does not: a Gaussian of 3 px keeps ~0.93; at 16 samples across the
    face, as the earlier blur kept, the blur keeps 0.31 on average (up to 0.47) and
    pixelation 0.76 (measured on these faces by setting ``SAMPLES_ACROSS`` to 16)."""
    clip = "05_default_juggle.mp4"
    src = VIDEOS / clip
    out = tmp_path / "out.mp4"
    run = run_tapmask("process", src, "-o", out, "--faces", "--mode", mode)
    assert run.returncode == 0, run.stderr
    labels = {int(k): v for k, v in LABELS["faces"][clip].items()}
    kept: list[float] = []
    for (i, a), (_, b) in zip(frames_rgb(src), frames_rgb(out), strict=True):
        for box in labels.get(i, []):
            r = float(np.corrcoef(face_detail(a, box), face_detail(b, box))[0, 1])
            assert r < 0.35, f"frame {i}: the face's features still show (correlation {r:.2f})"
            kept.append(r)
    assert len(kept) == 7
    assert float(np.mean(kept)) < 0.25, kept


def test_a_clip_with_no_face_is_left_as_it_was(tmp_path: Path) -> None:
    src = VIDEOS / "04_coffee.mp4"
    out = tmp_path / "out.mp4"
    run = run_tapmask(
        "process", src, "-o", out, "--faces", "--mode", "fill", "--color", "255,0,255"
    )
    assert run.returncode == 0, run.stderr
    count = 0
    for (i, a), (_, b) in zip(frames_rgb(src), frames_rgb(out), strict=True):
        count += 1
        # Not one pixel filled: even a 12 px false face would be hundreds of magenta pixels
        # (the clip has none of its own) ...
        filled = int((np.abs(b.astype(np.int16) - MAGENTA).max(axis=2) < 48).sum())
        assert filled == 0, f"frame {i}: {filled} pixels hidden"
        # ... and the rest only re-encoded (a few levels; a fill moves a pixel by ~100).
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)
        worst = float(np.percentile(diff, 99.9))
        assert worst < 40, f"frame {i}: something was changed (99.9th pct change {worst})"
    assert count == 287


def test_faces_of_a_phone_video_stored_sideways_are_hidden(tmp_path: Path) -> None:
    """bedroom.mp4's first 24 frames stored turned a quarter clockwise with a 90-degree
    display rotation, as a phone held upright writes them: the faces lie on their side in
    the stored frames and stand upright in what a player shows."""
    src = tmp_path / "phone.mp4"
    with av.open(str(VIDEOS / "bedroom.mp4")) as inp, av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 540, 960, "yuv420p"
        stream.options = {"crf": "16"}
        stream.set_display_rotation(90)
        for i, frame in enumerate(inp.decode(video=0)):
            if i == 24:
                break
            sideways = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), -1))
            stored = av.VideoFrame.from_ndarray(sideways, format="rgb24")
            stored.pts = i
            out.mux(stream.encode(stored))
        out.mux(stream.encode(None))
    out_path = tmp_path / "out.mp4"
    run = run_tapmask(
        "process", src, "-o", out_path, "--faces", "--mode", "fill", "--color", "255,0,255"
    )
    assert run.returncode == 0, run.stderr
    _, first = next(frames_rgb(out_path))  # stored pixels, 540 x 960
    for x0, y0, x1, y1 in LABELS["faces"]["bedroom.mp4"]["0"]:
        # Displayed (x, y) is stored (539 - y, x) for a 90-degree rotation.
        stored_box = [539 - y1, x0, 539 - y0, x1]
        assert filled_share(first, stored_box) > 0.99, stored_box
