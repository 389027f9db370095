"""Authentication dependencies. Endpoints declare the roles they accept with ``require(...)``."""

from __future__ import annotations

from collections.abc import Callable

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

    return dep
