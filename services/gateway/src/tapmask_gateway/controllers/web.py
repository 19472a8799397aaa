"""The web frontend: its build (web/dist) at /, or a page saying how to build it."""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.static_files import create_static_files_router

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TapMask</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>TapMask gateway</h1>
<p>The API is running, but the web frontend has not been built.</p>
<p>Build it with <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>
(or <code>make up</code>), then reload this page.</p>
<p>API documentation: <a href="/schema">/schema</a> &middot; health:
<a href="/api/health">/api/health</a></p>
</body></html>
"""


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def not_built() -> str:
    return _NOT_BUILT


def web_handlers(dist: Path) -> list[Router | HTTPRouteHandler]:
    if (dist / "index.html").is_file():
        return [create_static_files_router(path="/", directories=[dist], html_mode=True)]
    return [not_built]
