"""The learned CPU tracker: SAM on keyframes, an appearance memory per object, optical
flow and NanoTrack in between. One module per concept:

- ``settings``: every tunable, validated, with the figure that chose it;
- ``memory``: what each object looks like, and what it is not (look-alikes);
- ``state``: one tracked object and its states (tracking, unsure, lost, found again);
- ``frame``: a frame at working size, SAM features on demand;
- ``clicks``: clicks to objects (``sam_prompting.click_to_object``, shared with the web
  app's preview), corrections, decoys;
- ``resegment``: keyframes re-segment a carried object; ``search``: find a lost one;
- ``output``: the drawn mask; ``tracker``: the streaming driver.
"""

from tapmask_processing.tracking.learned.settings import LearnedSettings
from tapmask_processing.tracking.learned.tracker import LearnedTracker

__all__ = ["LearnedSettings", "LearnedTracker"]
