"""Write the gateway's OpenAPI document (as ``/schema`` serves it) to a file, or check it is
current, without starting anything: the web client's wire types are generated from it
(``web/src/generated/gateway.ts``, by openapi-typescript), so a change to an endpoint that
is not carried to the web app fails ``make schemas-check``.

    python -m tapmask_gateway.openapi          # regenerate services/gateway/openapi.json
    python -m tapmask_gateway.openapi --check  # exit 1 when it drifted from the app
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "openapi.json"


def render() -> str:
    """The OpenAPI document of the gateway's routes, as stable JSON text. Built from the app
    as ``create_app`` makes it (routes only: its lifespan, which connects, does not run)."""
    from tapmask_gateway.app import create_app
    from tapmask_gateway.settings import Settings

    doc = create_app(Settings()).openapi_schema.to_schema()
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when the file drifted")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.is_file() or args.out.read_text() != text:
            print(
                f"{args.out} is out of date with the gateway's routes. Run "
                "`python -m tapmask_gateway.openapi && (cd web && npm run gen:api)` and commit.",
                file=sys.stderr,
            )
            return 1
        print(f"{args.out} matches the gateway's routes.")
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
