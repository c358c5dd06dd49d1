"""Serving the built web app (`frontend/dist`) from the API process, with history fallback.

The SPA only answers what the API did not: a GET the app answered 404 becomes a file from
`dist`, or `index.html` for a browser navigation (`Accept: text/html`) to a path without a
file extension. So every API route, `/docs`, `/openapi.json`, `/metrics`, `/healthz` and
`/readyz` keeps priority whatever order routers are added in, and API clients still get
problem+json 404s for unknown paths.
"""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path, PurePosixPath

from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mcps.spa")

DIST = Path(__file__).resolve().parents[1] / "frontend" / "dist"

#: Vite puts content-hashed bundles here: they never change under the same name.
IMMUTABLE = "public, max-age=31536000, immutable"


def mount_spa(app: FastAPI, dist: Path = DIST) -> bool:
    """Serve the built SPA from `dist` if it was built; says whether it did."""
    if not (dist / "index.html").is_file():
        log.info("no web app at %s: run `./run web` to build it", dist)
        return False
    app.add_middleware(SpaFallback, dist=dist)
    return True


class SpaFallback:
    """Answers the app's GET/HEAD 404s outside `/api/` from the built SPA."""

    def __init__(self, app: ASGIApp, dist: Path) -> None:
        self.app = app
        self.dist = dist.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_not_found(message: Message) -> None:
            if held or (message["type"] == "http.response.start" and message["status"] == 404):
                held.append(message)
                return
            await send(message)

        await self.app(scope, receive, hold_not_found)
        if not held:
            return
        response = self._response(scope)
        if response is None:
            for message in held:  # the app's own 404 problem, unchanged
                await send(message)
            return
        await response(scope, receive, send)

    def _response(self, scope: Scope) -> FileResponse | None:
        path = PurePosixPath(scope["path"])
        candidate = (self.dist / str(path).lstrip("/")).resolve()
        if candidate.is_relative_to(self.dist) and candidate.is_file():
            immutable = candidate.parent == self.dist / "assets"
            media_type, _ = mimetypes.guess_type(candidate.name)
            return FileResponse(
                candidate,
                media_type=media_type,
                headers={"Cache-Control": IMMUTABLE if immutable else "no-cache"},
            )
        headers = dict(scope["headers"])
        wants_page = b"text/html" in headers.get(b"accept", b"")
        index = self.dist / "index.html"
        # Not while the app is being built again (`dist` emptied first): a 404, not a 500.
        if wants_page and "." not in path.name and index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return None
