"""RFC 9457 problem details. Services raise :class:`Problem` subclasses; the app renders them.

A problem's ``type`` is ``PROBLEM_BASE + slug`` so clients can match on the last path segment
(e.g. ``…/hash-mismatch``), as API.md describes.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://bodycam.dev/problems/"
PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger(__name__)


class Problem(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, slug: str | None = None, title: str | None = None,
                 status: int | None = None, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        if slug:
            self.slug = slug
        if title:
            self.title = title
        if status:
            self.status = status
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"type": PROBLEM_BASE + self.slug, "title": self.title, "status": self.status,
                "detail": self.detail, **self.extra}


class BadRequest(Problem):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, **kw: Any):
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class Gone(Problem):
    status, slug, title = 410, "gone", "Gone"


class TooLarge(Problem):
    status, slug, title = 413, "content-too-large", "Content too large"


class Invalid(Problem):
    status, slug, title = 422, "invalid", "Unprocessable content"


class RangeNotSatisfiable(Problem):
    status, slug, title = 416, "range-not-satisfiable", "Range not satisfiable"


class Unavailable(Problem):
    status, slug, title = 503, "unavailable", "Service unavailable"


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, headers=problem.headers,
                        media_type=PROBLEM_JSON)


def _jsonable_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        out.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _jsonable_errors(exc.errors())
        malformed = any(e["type"] in ("json_invalid", "model_attributes_type") for e in errors)
        if malformed:
            p = BadRequest("The request body is not valid JSON.", slug="malformed-json",
                           title="Malformed JSON", errors=errors)
        else:
            where = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors[:5])
            p = Invalid(f"The request is not valid: {where}", slug="validation-error",
                        title="Validation failed", errors=errors)
        return problem_response(p)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "Error"
        slug = phrase.lower().replace(" ", "-")
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        return problem_response(Problem(detail, slug=slug, title=phrase, status=exc.status_code,
                                        headers=getattr(exc, "headers", None) or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(Problem("An internal error occurred; it has been logged.",
                                        slug="internal-error", title="Internal server error", status=500))
