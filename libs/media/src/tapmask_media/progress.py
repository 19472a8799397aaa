"""How a streaming pass over a video reports how far it is: ``progress(done, total)`` in frames.

One alias for the tracker's and the renderer's pipelines, the CLI's bar and the workers'
``ProgressReporter`` adapters, which each had their own copy."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
