"""RFC 9457 problem details. Services raise :class:`Problem` subclasses; the app renders them.

A problem's ``type`` is ``PROBLEM_BASE + slug`` so clients can match on the last path segment
(e.g. ``…/hash-mismatch``), as API.md describes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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


class NulInText(Invalid):
    """Text holding U+0000. PostgreSQL cannot store it (a text column refuses the byte, jsonb the escape), so
    it is refused on both stacks at the one place every statement passes (:mod:`service.db`), after the
    request's authorisation, and the request's transaction rolls back: nothing changes."""

    slug, title = "nul-character", "NUL character in text"

    def __init__(self) -> None:
        super().__init__("Text may not contain the NUL character (U+0000).")


class RangeNotSatisfiable(Problem):
    status, slug, title = 416, "range-not-satisfiable", "Range not satisfiable"


class Unavailable(Problem):
    status, slug, title = 503, "unavailable", "Service unavailable"


class ProblemModel(BaseModel):
    """How every error is answered (RFC 9457), as ``application/problem+json``."""

    model_config = ConfigDict(extra="allow", title="Problem")
    type: str = Field(description="PROBLEM_BASE + a slug that clients match on, e.g. …/hash-mismatch")
    title: str
    status: int
    detail: str


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_WHEN = {400: "Malformed request (e.g. a body that is not JSON)", 401: "No valid credentials",
         403: "The caller's roles do not allow this", 404: "Not found (or not visible to the caller)",
         409: "Conflicts with the current state", 410: "Gone: deleted, revoked or expired",
         413: "Body too large", 415: "Unsupported media type", 416: "Range not satisfiable",
         422: "A parameter or the body is not valid", 503: "Service unavailable"}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries declaring that an operation may answer these statuses with a problem."""
    return {s: {"description": _WHEN.get(s, HTTPStatus(s).phrase),
                "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}} for s in statuses}


# A ranged download's 206 (its problems: 416, and whatever finding the object costs).
PARTIAL: dict[int | str, dict[str, Any]] = {206: {"description": "Partial content: the byte range asked for"}}


def _document(app: FastAPI) -> None:
    """The OpenAPI states what every request path shares: the Problem schema, and for every operation that
    takes a body, BodyLimit's 413 and the validation handler's 400 for a body that is not JSON."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            ProblemModel.model_json_schema(ref_template="#/components/schemas/{model}"))
        for path in schema.get("paths", {}).values():
            for op in path.values():
                if isinstance(op, dict) and "requestBody" in op:
                    for status, entry in problems(400, 413).items():
                        op.setdefault("responses", {}).setdefault(str(status), entry)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


# A constraint declared on a query parameter (so that the OpenAPI states it) fails with the problem the
# code raised when it checked the value itself: clients match on those types (invalid-limit, …).
_QUERY_PROBLEMS: dict[str, tuple[frozenset[str], Callable[[], Problem]]] = {}
_BOUNDS: dict[str, tuple[int, int]] = {}


def query_problem(name: str, error_types: set[str], make: Callable[[], Problem]) -> None:
    """Answer ``make()`` when the query parameter ``name`` fails only with one of these pydantic errors."""
    _QUERY_PROBLEMS[name] = (frozenset(error_types), make)


def bounded_query(name: str, lo: int, hi: int) -> Any:
    """``Query(ge=lo, le=hi)`` for the integer query parameter ``name``; out of bounds it is the
    ``invalid-<name>`` problem (one pair of bounds per name: every ``limit`` is the same)."""
    if _BOUNDS.setdefault(name, (lo, hi)) != (lo, hi):
        raise ValueError(f"query parameter {name} is bounded differently elsewhere")
    query_problem(name, {"greater_than_equal", "less_than_equal"},
                  lambda: Invalid(f"{name} must be between {lo} and {hi}", slug=f"invalid-{name}"))
    return Query(ge=lo, le=hi, description=f"{lo}-{hi}")


def _query_problem(errors: list[dict[str, Any]]) -> Problem | None:
    if len(errors) != 1:
        return None
    loc, kind = errors[0]["loc"], errors[0]["type"]
    if len(loc) == 2 and loc[0] == "query" and loc[1] in _QUERY_PROBLEMS:
        kinds, make = _QUERY_PROBLEMS[loc[1]]
        if kind in kinds:
            return make()
    return None


DATABASE_RETRY_AFTER_S = 2
# SQLSTATEs that mean "busy, ask again": class 53 (insufficient resources: too many connections, …),
# 57P03 (cannot connect now: starting or shutting down), 57014 (a statement timeout under load).
_BUSY_STATES = ("53", "57P03", "57014")


def database_busy(why: str) -> Unavailable:
    return Unavailable(f"The database is busy ({why}); try again shortly.", slug="database-busy",
                       title="Database busy", headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})


def _busy_sqlstate(exc: sa_exc.DBAPIError) -> bool:
    err: BaseException | None = exc.orig
    for _ in range(3):  # the driver's error, then what it wraps (asyncpg's own exception)
        if err is None:
            return False
        state = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(state, str) and state.startswith(_BUSY_STATES):
            return True
        err = err.__cause__
    return False


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, headers=problem.headers,
                        media_type=PROBLEM_JSON)


def _jsonable_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        out.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    return out


def _allowed_methods(request: Request) -> str:
    """Every method of every route at this path: Starlette's 405 names only the first route's, so a path
    with GET and POST in two routes answered ``Allow: GET`` to a DELETE (RFC 9110 wants them all)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "methods", None) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


def install(app: FastAPI, guard: Callable[[Request], Awaitable[None]] | None = None) -> None:
    """The problem handlers; *guard* runs the matched route's role checks before a malformed body is
    answered (FastAPI rejects it before any dependency has run)."""
    _document(app)

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _jsonable_errors(exc.errors())
        malformed = any(e["type"] in ("json_invalid", "model_attributes_type") for e in errors)
        if malformed and guard is not None:
            try:
                await guard(request)  # 401/403 before 400, as for any other bad input
            except Problem as p:
                return problem_response(p)
        bound = _query_problem(errors)
        if bound is not None:
            return problem_response(bound)
        if malformed:
            p = BadRequest("The request body is not valid JSON.", slug="malformed-json",
                           title="Malformed JSON", errors=errors)
        else:
            where = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors[:5])
            p = Invalid(f"The request is not valid: {where}", slug="validation-error",
                        title="Validation failed", errors=errors)
        return problem_response(p)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "Error"
        slug = phrase.lower().replace(" ", "-")
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return problem_response(Problem(detail, slug=slug, title=phrase, status=exc.status_code, headers=headers))

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool_exhausted(request: Request, exc: sa_exc.TimeoutError) -> JSONResponse:
        # Every pooled connection is in use for longer than the pool waits: the database is busy, not
        # broken. A dock or client retries after a pause (on another replica, behind a balancer).
        log.warning("database_busy", path=request.url.path, error=str(exc)[:200])
        return problem_response(database_busy("every database connection of this server is in use"))

    @app.exception_handler(sa_exc.DBAPIError)
    async def _database_error(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        if _busy_sqlstate(exc):
            log.warning("database_busy", path=request.url.path, error=str(exc.orig)[:200])
            return problem_response(database_busy("the database refused more work for now"))
        return await _unexpected(request, exc)

    @app.exception_handler(sa_exc.StatementError)
    async def _statement_error(request: Request, exc: sa_exc.StatementError) -> JSONResponse:
        # SQLAlchemy wraps what a bind processor raised (a JSON value with NUL in it: NulInText).
        if isinstance(exc.orig, Problem):
            return problem_response(exc.orig)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(Problem("An internal error occurred; it has been logged.",
                                        slug="internal-error", title="Internal server error", status=500))
