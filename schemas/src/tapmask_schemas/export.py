"""Write the JSON Schema of every event into schemas/json/, or check it is current.

python -m tapmask_schemas.export          # regenerate
python -m tapmask_schemas.export --check  # exit 1 when the files drifted from the models
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from tapmask_schemas.events import EVENT_MODELS
from tapmask_schemas.tracking import TrackHold, TrackPreviews
from tapmask_schemas.updates import JobUpdate

# Every event, what a browser gets on a job's event stream, and the live tracking objects.
MODELS: dict[str, type[BaseModel]] = {
    **EVENT_MODELS,
    "job-update": JobUpdate,
    "track-previews": TrackPreviews,
    "track-hold": TrackHold,
}

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "json"


def render_all() -> dict[str, str]:
    """File name -> JSON Schema text, for every event model and the stream's update."""
    return {
        f"{name}.schema.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True)
        + "\n"
        for name, model in MODELS.items()
    }


def drifted(directory: Path) -> list[str]:
    """Names of schema files that are missing, stale or unexpected in `directory`."""
    expected = render_all()
    problems = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]
    problems += [p.name for p in directory.glob("*.schema.json") if p.name not in expected]
    return sorted(problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when files drifted")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted(args.dir)
        if stale:
            print(
                f"JSON Schemas out of date: {', '.join(stale)}. "
                "Run `python -m tapmask_schemas.export` and commit.",
                file=sys.stderr,
            )
            return 1
        print(f"JSON Schemas in {args.dir} match the models.")
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    for stale in args.dir.glob("*.schema.json"):
        stale.unlink()
    for name, text in render_all().items():
        (args.dir / name).write_text(text)
    print(f"wrote {len(MODELS)} schemas to {args.dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
