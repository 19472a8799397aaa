"""Parsing ``--point`` / ``--negative`` clicks into tracker prompts.

Syntax: ``X,Y`` (frame 0) or ``X,Y@FRAME``, pixel coordinates of the picture as a player
shows it (after the file's display rotation, like a browser's videoWidth x videoHeight),
x to the right and y down. Objects: every ``--point`` is a new object, unless it ends in ``+``,
which adds it to the object of the click before it (e.g. a second click on the same
object, or a re-click on a later frame: ``--point 600,427 --point 640,300@90+``).
``--negative X,Y[@FRAME]`` marks background to leave out of every object; with a ``+``
it applies to the previous object only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tapmask_processing.tracking.tracking import Prompt

_CLICK = re.compile(
    r"^\s*(?P<x>-?\d+(?:\.\d+)?)\s*,\s*(?P<y>-?\d+(?:\.\d+)?)\s*"
    r"(?:@\s*(?P<frame>\d+))?\s*(?P<plus>\+)?\s*$"
)
#: object_id for negatives that apply to every object (no positive prompt has it).
ALL_OBJECTS = -1


class PointSyntaxError(ValueError):
    """A click that does not follow ``X,Y[@FRAME][+]``."""


@dataclass(frozen=True)
class Click:
    text: str
    positive: bool


def parse_click(text: str) -> tuple[float, float, int, bool]:
    """(x, y, frame, joins_previous) of one click."""
    m = _CLICK.match(text)
    if m is None:
        raise PointSyntaxError(
            f"bad point {text!r}: expected X,Y or X,Y@FRAME (pixels, e.g. 600,427 or 600,427@30)"
        )
    return float(m["x"]), float(m["y"]), int(m["frame"] or 0), m["plus"] is not None


def clicks_to_prompts(clicks: list[Click]) -> list[Prompt]:
    """Turn clicks, in command-line order, into prompts with object ids."""
    prompts: list[Prompt] = []
    current: int | None = None
    next_id = 0
    for click in clicks:
        x, y, frame, joins = parse_click(click.text)
        if click.positive:
            if not joins or current is None:
                current, next_id = next_id, next_id + 1
            prompts.append(Prompt(x=x, y=y, frame=frame, positive=True, object_id=current))
        else:
            obj = current if joins and current is not None else ALL_OBJECTS
            prompts.append(Prompt(x=x, y=y, frame=frame, positive=False, object_id=obj))
    return prompts
