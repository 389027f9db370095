"""What every console page needs: who is signed in, CSRF, and turning forms into the API's request models.

The console holds no rules of its own. A page or form calls the same service function the JSON API's
endpoint calls, in the request's one transaction (``SessionDep``) and as the signed-in person, with the
same role check, validation, audit and errors; only the rendering differs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from pydantic import BaseModel, TypeAdapter, ValidationError

from service.auth.endpoints import client_ip
from service.auth.schemas import Principal
from service.auth.service import principal_from_claims
from service.errors import Forbidden, Invalid, Unauthorized

SESSION_COOKIE = "bwv_session"
PRESESSION_COOKIE = "bwv_pre"  # binds the sign-in form's CSRF token to this browser before a session exists
FLASH_COOKIE = "bwv_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
M = TypeVar("M", bound=BaseModel)


_UNKNOWN = object()  # request.state has no web_principal yet (None means: looked, nobody signed in)


class SignInRequired(Exception):
    """Raised by page dependencies; the console's route class turns it into a redirect to sign-in."""


async def optional_principal(request: Request) -> Principal | None:
    """The signed-in person, or None. Only console-session tokens (with ``sid``) are taken from the cookie."""
    known = getattr(request.state, "web_principal", _UNKNOWN)
    if known is not _UNKNOWN:
        return known
    principal = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        ctx = request.app.state.ctx
        try:
            claims = ctx.tokens.decode(token)
            if isinstance(claims.get("sid"), str):
                async with ctx.sessions() as s:
                    principal = await principal_from_claims(s, claims, client_ip(request),
                                                            request.headers.get("user-agent"))
        except Unauthorized:
            principal = None
    request.state.web_principal = principal
    return principal


def signed_in(*roles: str) -> Callable[..., Any]:
    """Page dependency: the signed-in person, holding one of ``roles`` (any role when none are named).
    Pages take their roles from the role sets their services check (``signed_in(*recordings.VIEWERS)``,
    service/auth/roles.py), so the console never keeps a second list that could drift from the rules."""

    async def dep(request: Request) -> Principal:
        principal = await optional_principal(request)
        if principal is None:
            raise SignInRequired()
        if roles and not principal.has(*roles):
            raise Forbidden(f"This page needs one of the roles: {', '.join(roles)}.", slug="wrong-role")
        return principal

    dep.roles = roles
    return dep


# --- CSRF: a synchronizer token, HMAC-bound to the session (or, before sign-in, to a random cookie) ---

def _csrf_key(request: Request) -> bytes:
    key = getattr(request.app.state, "csrf_key", None)
    if key is None:
        secret = request.app.state.ctx.settings.signing_key()
        key = request.app.state.csrf_key = hashlib.sha256(b"bwv-csrf:" + secret.encode()).digest()
    return key


def presession_id(request: Request) -> str:
    """This browser's pre-sign-in id; a new one is set on the response by the console middleware."""
    value = request.cookies.get(PRESESSION_COOKIE)
    if not value or len(value) != 32:
        value = getattr(request.state, "new_presession", None) or secrets.token_hex(16)
        request.state.new_presession = value
    return value


def csrf_token(request: Request) -> str:
    principal: Principal | None = getattr(request.state, "web_principal", None)
    binding = f"s:{principal.jti}" if principal is not None and principal.jti else f"p:{presession_id(request)}"
    return hmac.new(_csrf_key(request), binding.encode(), hashlib.sha256).hexdigest()


async def csrf_guard(request: Request) -> None:
    """Every console request that changes something carries the token (form field or htmx header)."""
    if request.method in SAFE_METHODS:
        return
    await optional_principal(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = (await request.form()).get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(request)):
        raise Forbidden("The form's security token is missing or out of date; reload the page and try again.",
                        slug="csrf-failed", title="Form expired")


def form_model(model: Any, data: dict[str, Any]) -> Any:
    """A form's fields as the API's own request model (a model class, or an annotated union of them); blank
    fields are absent. Errors read as the API's."""
    clean = {k: v for k, v in data.items() if v not in ("", None) and k != CSRF_FIELD}
    try:
        return TypeAdapter(model).validate_python(clean)
    except ValidationError as e:
        where = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'form'}: {err['msg']}" for err in e.errors()[:5])
        raise Invalid(f"The form is not valid: {where}", slug="validation-error", title="Validation failed") from e


def safe_next(target: str | None, default: str = "/ui/") -> str:
    """Only a local console path may be a redirect target (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def sign_in_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(here, safe='')}"
