"""Rendering console pages: Jinja2 templates, flash messages, and a route class that turns the API's
problems into pages (or htmx fragments) instead of problem+json."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from service.alerts import service as alerts
from service.audit import service as audit
from service.auth.roles import DISCLOSURE_STAFF, SAR_HANDLERS, STAFF_UPLOADERS, Role
from service.auth.schemas import SEE_ALL, Principal
from service.errors import Invalid, Problem
from service.web.deps import FLASH_COOKIE, SignInRequired, csrf_guard, csrf_token, is_htmx, sign_in_url

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# What each role finds in the navigation; a person with several roles sees each section.
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("My footage", "/ui/officer", (Role.OFFICER,)),
    ("Alerts", "/ui/supervisor/alerts", alerts.READERS),
    ("Devices", "/ui/supervisor/devices", alerts.READERS),  # the supervisor's desk: one guard (supervisor.py)
    ("Holds", "/ui/supervisor/holds", alerts.READERS),
    ("Reviews", "/ui/supervisor/reviews", alerts.READERS),
    ("Cases", "/ui/disclosure/cases", DISCLOSURE_STAFF),
    ("Footage", "/ui/recordings", tuple(SEE_ALL)),
    ("Subject access", "/ui/sar", SAR_HANDLERS),
    ("Audit", "/ui/audit", audit.READERS),
    ("Upload", "/ui/upload", STAFF_UPLOADERS),  # CCTV exports and control-room audio
]


def nav_for(principal: Principal | None) -> list[tuple[str, str]]:
    if principal is None:
        return []
    return [(label, href) for label, href, roles in NAV if principal.has(*roles)]


def home_for(principal: Principal) -> str:
    items = nav_for(principal)
    return items[0][1] if items else "/transparency"


def _when(value: Any, with_seconds: bool = False) -> str:
    if value in (None, ""):
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if with_seconds else "%Y-%m-%d %H:%M UTC")


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


templates.env.filters.update(when=_when, size=_size, duration=_duration,
                             tojson_attr=lambda v: json.dumps(v, default=str))


def flash(response: Response, message: str, kind: str = "ok") -> Response:
    """A one-time message shown on the next page (after a redirect)."""
    response.set_cookie(FLASH_COOKIE, quote(json.dumps({"kind": kind, "message": message[:500]})),
                        httponly=True, samesite="strict", path="/", max_age=60)
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
        return {"kind": str(data.get("kind", "ok")), "message": str(data.get("message", ""))}
    except (ValueError, AttributeError):
        return None


def render(request: Request, name: str, me: Principal | None, *, status: int = 200, title: str = "",
           **context: Any) -> HTMLResponse:
    shown = _read_flash(request)
    response = templates.TemplateResponse(request, name, {
        "me": me, "nav": nav_for(me), "csrf": csrf_token(request), "flash": shown, "title": title,
        "path": request.url.path, **context}, status_code=status)
    if shown:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def fragment(request: Request, name: str, **context: Any) -> HTMLResponse:
    """An htmx partial: no layout, no flash."""
    return templates.TemplateResponse(request, name, {"csrf": csrf_token(request), **context})


def done(target: str, message: str) -> Response:
    """Post/Redirect/Get after a successful form."""
    return flash(RedirectResponse(target, status_code=303), message)


def _back(request: Request) -> str:
    ref = request.headers.get("referer")
    if ref:
        u = urlparse(ref)
        if u.netloc == request.url.netloc and u.path.startswith("/ui"):
            return u.path + (f"?{u.query}" if u.query else "")
    return request.url.path if request.method == "GET" else "/ui/"


def problem_page(request: Request, p: Problem) -> Response:
    if is_htmx(request):
        r = fragment(request, "_problem.html", problem=p)
        r.status_code = p.status
        r.headers["HX-Retarget"] = "#flash"
        r.headers["HX-Reswap"] = "innerHTML"
        return r
    if request.method not in ("GET", "HEAD") and p.slug != "csrf-failed":
        # A refused form: back to the page it came from, with the API's explanation.
        return flash(RedirectResponse(_back(request), status_code=303), f"{p.title}: {p.detail}", "error")
    me = getattr(request.state, "web_principal", None)
    return render(request, "error.html", me, status=p.status, title=p.title, problem=p)


class ConsoleRoute(APIRoute):
    """Console routes answer in HTML: a missing session redirects to sign-in; an API problem becomes a
    page, a flash after a refused form, or an htmx fragment. The problem itself is the API's."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                if is_htmx(request):
                    return Response(status_code=401, headers={"HX-Redirect": sign_in_url(request)})
                return RedirectResponse(sign_in_url(request), status_code=303)
            except Problem as p:
                return problem_page(request, p)
            except RequestValidationError as e:
                where = "; ".join(f"{'.'.join(str(x) for x in err['loc'][1:])}: {err['msg']}" for err in e.errors()[:5])
                return problem_page(request, Invalid(f"The form is not valid: {where}", slug="validation-error",
                                                     title="Validation failed"))

        return run


def console_router(**kw: Any) -> APIRouter:
    """Every console router: HTML problems, CSRF on every unsafe request, out of the OpenAPI document."""
    return APIRouter(route_class=ConsoleRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False, **kw)
