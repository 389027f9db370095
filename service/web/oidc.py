"""OpenID Connect sign-in against the force's identity provider (authorization code flow with PKCE).

Configured by ``BWV_OIDC_ISSUER``, ``BWV_OIDC_CLIENT_ID`` (and ``BWV_OIDC_CLIENT_SECRET`` for a
confidential client). The ID token is verified with python-jose against the provider's JWKS: its
signature, issuer, audience, expiry and our nonce. Roles come from ``BWV_OIDC_ROLES_CLAIM``; the person's
bodycam id from ``BWV_OIDC_ID_CLAIM`` (default ``sub``, per issuer in ``BWV_OIDC_ID_CLAIMS``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import Request
from fastapi.responses import Response
from jose import JWTError, jwt

from service.config import Settings
from service.context import Context
from service.errors import NotFound, Unauthorized, Unavailable

STATE_COOKIE = "bwv_oidc"
STATE_TTL_S = 600
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}  # issuer -> (fetched at, document)


def enabled(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def _redirect_uri(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + "/ui/login/oidc/callback"


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(url)
            r.raise_for_status()
            return r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise Unavailable(f"The identity provider could not be reached ({type(e).__name__}).",
                          slug="identity-provider-unavailable") from e


async def discovery(settings: Settings) -> dict[str, Any]:
    issuer = settings.oidc_issuer.rstrip("/")
    cached = _discovery.get(issuer)
    if cached and time.monotonic() - cached[0] < 3600:
        return cached[1]
    doc = await _get_json(issuer + "/.well-known/openid-configuration")
    _discovery[issuer] = (time.monotonic(), doc)
    return doc


def _state_key(ctx: Context) -> str:
    return "bwv-oidc-state:" + ctx.settings.signing_key()


async def start(ctx: Context, next_path: str) -> tuple[str, str]:
    """The provider's authorization URL, and the signed state cookie that the callback must match."""
    settings = ctx.settings
    if not enabled(settings):
        raise NotFound("Sign-in through an identity provider is not configured here.", slug="oidc-disabled")
    doc = await discovery(settings)
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = {"response_type": "code", "client_id": settings.oidc_client_id, "redirect_uri": _redirect_uri(settings),
             "scope": settings.oidc_scopes, "state": state, "nonce": nonce, "code_challenge": challenge,
             "code_challenge_method": "S256"}
    cookie = jwt.encode({"state": state, "nonce": nonce, "verifier": verifier, "next": next_path,
                         "exp": int(time.time()) + STATE_TTL_S}, _state_key(ctx), algorithm="HS256")
    return f"{doc['authorization_endpoint']}?{urlencode(query)}", cookie


def set_state_cookie(request: Request, response: Response, value: str) -> None:
    # Lax, not Strict: the provider's redirect back is a cross-site navigation and must carry it.
    response.set_cookie(STATE_COOKIE, value, httponly=True, secure=request.app.state.ctx.settings.cookie_secure,
                        samesite="lax", path="/ui/login/oidc", max_age=STATE_TTL_S)


def clear_state_cookie(response: Response) -> None:
    response.delete_cookie(STATE_COOKIE, path="/ui/login/oidc")


async def finish(ctx: Context, request: Request, code: str | None, state: str | None, error: str | None,
                 error_description: str | None) -> tuple[str, list[str], str, str | None]:
    """Check the callback and the ID token; returns (person id, roles, where to go next, the `email` claim:
    where notifications go, never who the person is)."""
    settings = ctx.settings
    if not enabled(settings):
        raise NotFound("Sign-in through an identity provider is not configured here.", slug="oidc-disabled")
    if error:
        raise Unauthorized(f"The identity provider refused the sign-in: {error_description or error}.",
                           slug="oidc-refused")
    try:
        saved = jwt.decode(request.cookies.get(STATE_COOKIE) or "", _state_key(ctx), algorithms=["HS256"])
    except JWTError as e:
        raise Unauthorized("The sign-in took too long or was started in another browser; try again.",
                           slug="oidc-state") from e
    if not code or not state or not secrets.compare_digest(state, saved.get("state", "")):
        raise Unauthorized("The identity provider's answer does not match this sign-in; try again.",
                           slug="oidc-state")
    doc = await discovery(settings)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": _redirect_uri(settings),
            "client_id": settings.oidc_client_id, "code_verifier": saved["verifier"]}
    auth = (settings.oidc_client_id, settings.oidc_client_secret) if settings.oidc_client_secret else None
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(doc["token_endpoint"], data=form, auth=auth)
    except httpx.HTTPError as e:
        raise Unavailable(f"The identity provider could not be reached ({type(e).__name__}).",
                          slug="identity-provider-unavailable") from e
    if r.status_code != 200 or "id_token" not in r.text:
        raise Unauthorized("The identity provider did not accept the sign-in code.", slug="oidc-refused")
    id_token = r.json()["id_token"]
    jwks = await _get_json(doc["jwks_uri"])
    try:
        # require_aud: python-jose lets a token without `aud` through even when an audience is given.
        claims = jwt.decode(id_token, jwks, algorithms=["RS256", "ES256"], audience=settings.oidc_client_id,
                            issuer=doc.get("issuer", settings.oidc_issuer),
                            access_token=r.json().get("access_token"), options={"require_aud": True})
    except JWTError as e:
        raise Unauthorized(f"The identity provider's ID token was refused: {e}.", slug="oidc-token") from e
    if not secrets.compare_digest(str(claims.get("nonce", "")), saved["nonce"]):
        raise Unauthorized("The ID token was not issued for this sign-in.", slug="oidc-token")
    # The person is the provider's stable id, never a name they may edit (preferred_username, email).
    person_id = claims.get(id_claim(settings, str(claims.get("iss", ""))))
    roles = claims.get(settings.oidc_roles_claim) or []
    if not isinstance(person_id, str) or not isinstance(roles, list):
        raise Unauthorized("The ID token lacks the person's id or a roles list.", slug="oidc-token")
    email = claims.get("email")
    return person_id, [str(r) for r in roles], saved.get("next") or "", email if isinstance(email, str) else None


def id_claim(settings: Settings, issuer: str) -> str:
    """BWV_OIDC_ID_CLAIMS names the claim per issuer; BWV_OIDC_ID_CLAIM (default ``sub``) otherwise."""
    by_issuer = {k.rstrip("/"): v for k, v in settings.oidc_id_claims.items()}
    return by_issuer.get(issuer.rstrip("/")) or settings.oidc_id_claim
