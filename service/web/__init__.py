"""The web console: server-rendered pages (Jinja2 + htmx) over the API's own endpoint functions.

Every page is a view of an API call made as the signed-in person; forms post to console routes that
call the same endpoint functions, so the console can do nothing the API would refuse.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

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

    @app.middleware("http")
    async def console_headers(request: Request, call_next):
        response = await call_next(request)
        path = request.url.path
        if path.startswith("/ui") or path in ("/", "/transparency"):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            if not path.startswith("/ui/static"):
                response.headers.setdefault("Cache-Control", "no-store")  # pages show personal data
            new = getattr(request.state, "new_presession", None)
            if new:
                response.set_cookie(PRESESSION_COOKIE, new, httponly=True, samesite="strict", path="/",
                                    secure=request.app.state.ctx.settings.cookie_secure)
        return response
