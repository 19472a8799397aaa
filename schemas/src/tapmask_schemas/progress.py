"""How one job's percent (``JobProgress.percent``) is shared between the two workers.

The tracker reports 0 up to its share's end, the renderer from there to 100, so a client
sees one bar that never goes back. Erasing makes rendering the long half (inpainting every
masked pixel), hiding makes tracking about as long as rendering: hence 30 and 50.
"""

from __future__ import annotations

from typing import Final

from tapmask_schemas.jobs import ProcessingMode

TRACKER_SHARE_END: Final = {ProcessingMode.PRIVACY: 50.0, ProcessingMode.MAGIC_ERASER: 30.0}


def tracker_share_end(mode: ProcessingMode) -> float:
    """The job percent at which the tracker's part is done and the renderer's starts."""
    return TRACKER_SHARE_END[mode]
