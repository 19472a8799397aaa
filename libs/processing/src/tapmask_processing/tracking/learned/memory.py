"""What the tracker remembers of each object: its appearance, and what it is not.

An object is remembered as a small bank of SAM feature vectors (``sam_prompting.
appearance``: the mean unit feature under its mask): the one from the click, which is
never forgotten, and up to ``LearnedSettings.memory_size`` more taken on keyframes whose
answer is trusted (it agreed with the flow-carried mask and looked like the object).
Look-alikes met so far (a decoy beside it, a candidate that looked like it but was not)
are remembered too. A candidate's *similarity* is its best cosine to the object's bank;
its *identity* is that similarity less how much more it resembles a look-alike.

Why a bank and not the clicked vector alone: an object turns, changes scale and light,
and its clicked appearance drifts out of reach (a turning dog's cosine to its clicked
side falls to 0.7); a vector from a trusted frame nearer in time still matches. Why the
look-alike bank: two children in the same clothes are 0.80 alike, so a bank of the
object's own views alone would take either; the margin against the other one's views
is what separates them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.sam_onnx import FloatArray
from tapmask_processing.tracking.sam_prompting import similarity_map


@dataclass
class AppearanceMemory:
    """One object's appearance bank (see the module docstring)."""

    clicked: FloatArray
    size: int = 6
    recent: deque[FloatArray] = field(default_factory=deque)
    lookalikes: deque[FloatArray] = field(default_factory=lambda: deque(maxlen=4))

    def remember(self, look: FloatArray) -> None:
        """Add a trusted view of the object (the oldest but the clicked one goes)."""
        if self.size <= 0:
            return
        self.recent.append(look)
        while len(self.recent) > self.size:
            self.recent.popleft()

    def remember_lookalike(self, look: FloatArray) -> None:
        self.lookalikes.append(look)

    def similarity(self, look: FloatArray | None) -> float:
        """The best cosine of ``look`` to any remembered view of the object."""
        if look is None:
            return 0.0
        best = float(look @ self.clicked)
        for view in self.recent:
            best = max(best, float(look @ view))
        return best

    def lookalike_similarity(self, look: FloatArray | None) -> float:
        if look is None or not self.lookalikes:
            return -1.0
        return max(float(look @ view) for view in self.lookalikes)

    def identity(self, look: FloatArray | None, margin: float) -> float:
        """``similarity``, or -1 when ``look`` resembles a remembered look-alike more than
        the object by ``margin`` (it is that look-alike)."""
        similar = self.similarity(look)
        if self.lookalike_similarity(look) > similar + margin:
            return -1.0
        return similar

    def match_map(self, grid: FloatArray) -> npt.NDArray[np.float32]:
        """Per feature cell: the best cosine to any remembered view of the object."""
        out = similarity_map(grid, self.clicked)
        for view in self.recent:
            out = np.maximum(out, similarity_map(grid, view))
        return out
