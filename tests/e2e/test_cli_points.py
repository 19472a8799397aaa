"""How --point / --negative clicks become objects (the documented grouping rules)."""

from __future__ import annotations

import pytest

from tapmask_cli.main import build_parser
from tapmask_cli.points import ALL_OBJECTS, PointSyntaxError, clicks_to_prompts, parse_click


def _prompts(*argv: str):  # type: ignore[no-untyped-def]
    args = build_parser().parse_args(["process", "in.mp4", "-o", "out.mp4", *argv])
    return clicks_to_prompts(args.clicks)


def test_each_point_is_a_new_object_and_plus_joins_the_previous() -> None:
    p = _prompts("--point", "600,427", "--point", "320,373", "--point", "330,200@40+")
    assert [(q.x, q.y, q.frame, q.object_id) for q in p] == [
        (600, 427, 0, 0),
        (320, 373, 0, 1),
        (330, 200, 40, 1),
    ]
    assert all(q.positive for q in p)


def test_negatives_apply_to_all_objects_unless_joined() -> None:
    p = _prompts("--point", "10,10", "--negative", "12,40", "--negative", "15,15@3+")
    assert (p[1].positive, p[1].object_id) == (False, ALL_OBJECTS)
    assert (p[2].positive, p[2].object_id, p[2].frame) == (False, 0, 3)


@pytest.mark.parametrize("text", ["10", "10,", "a,b", "10,20@x", "10;20", "10,20@-1"])
def test_bad_point_syntax_is_named(text: str) -> None:
    with pytest.raises(PointSyntaxError, match="bad point"):
        parse_click(text)


def test_fractional_and_spaced_points_parse() -> None:
    assert parse_click(" 10.5 , 20 @ 7 ") == (10.5, 20.0, 7, False)
