"""Authentication dependencies. Endpoints declare the roles they accept with ``require(...)``; a route or a
router lists ``guard(...)`` in its ``dependencies`` so that a person without the role is told 403 before
anything about their request's body or query (which FastAPI validates after the dependencies have run,
and, for a body that is not JSON at all, before: :func:`check_guards` covers that case). The service
still checks the role itself: the guard only decides which answer comes first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.auth.schemas import Principal
from service.auth.service import principal_from_claims
from service.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def current_principal(request: Request,
                            creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise Unauthorized("A bearer token is required.", slug="missing-token")
    claims = request.app.state.tokens.decode(creds.credentials)
    async with request.app.state.sessions() as session:
        return await principal_from_claims(session, claims, client_ip(request),
                                           request.headers.get("user-agent"))


def require(*roles: str) -> Callable[..., Principal]:
    async def dep(principal: Principal = Depends(current_principal)) -> Principal:
        if roles and not principal.has(*roles):
            raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.", slug="wrong-role")
        return principal

    dep.roles = roles  # type: ignore[attr-defined]  # what check_guards looks for
    return dep


def guard(*roles: str) -> Any:
    """``dependencies=[guard(*SAR_HANDLERS)]``: the caller must hold one of *roles* (401 and 403 come
    before 422)."""
    return Depends(require(*roles))


async def check_guards(request: Request) -> None:
    """The matched route's guards, run by hand: for a request FastAPI refuses before its dependencies
    run (a body that is not JSON), so that such a request from a person without the role is still 403."""
    route = request.scope.get("route")
    guards = [d.dependency for d in getattr(route, "dependencies", []) if hasattr(d.dependency, "roles")]
    if not guards:
        return
    principal = await current_principal(request, await _bearer(request))
    for check in guards:
        await check(principal)
