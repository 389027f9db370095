"""The web console: server-rendered pages (Jinja2 + htmx) over the API's own endpoint functions.

Every page is a view of an API call made as the signed-in person; forms post to console routes that
call the same endpoint functions, so the console can do nothing the API would refuse.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.responses import Response

from service.web import (
    auditor,
    coldtier,
    disclosure,
    officer,
    recipient,
    sar,
    signin,
    supervisor,
    transparency,
    upload,
)
from service.web.deps import PRESESSION_COOKIE
from service.web.render import HERE

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def install(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="console-static")
    for module in (signin, officer, supervisor, disclosure, sar, auditor, transparency, recipient, coldtier):
        app.include_router(module.router)
    app.include_router(upload.page_router)
    app.include_router(upload.router)

    app.add_middleware(ConsoleHeaders)


def _is_console(path: str) -> bool:
    return path.startswith("/ui") or path in ("/", "/transparency")


class ConsoleHeaders:
    """Pure ASGI middleware (not ``@app.middleware("http")``, which streams every body through a task and
    a memory stream, uploads included): the console's pages get the CSP and no-store, and a browser that
    was given a pre-sign-in id (:func:`service.web.deps.presession_id`) gets its cookie."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _is_console(scope["path"]):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        state = scope.setdefault("state", {})  # what request.state reads and writes

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if not path.startswith("/ui/static"):
                    headers.setdefault("Cache-Control", "no-store")  # pages show personal data
                new = state.get("new_presession")
                if new:
                    cookie = Response()
                    cookie.set_cookie(PRESESSION_COOKIE, new, httponly=True, samesite="strict", path="/",
                                      secure=scope["app"].state.ctx.settings.cookie_secure)
                    for name, value in cookie.raw_headers:
                        if name == b"set-cookie":
                            headers.append("set-cookie", value.decode("latin-1"))
            await send(message)

        await self.app(scope, receive, sending)
