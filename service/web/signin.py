"""Sign-in (local accounts, or the force's OpenID Connect provider) and sign-out."""

from __future__ import annotations

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from service.auth import accounts
from service.auth.endpoints import client_ip
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.errors import Problem
from service.web import oidc
from service.web.deps import SESSION_COOKIE, optional_principal, safe_next, signed_in
from service.web.render import console_router, done, flash, home_for, render

router = console_router()


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = request.app.state.ctx.settings
    # HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it; Secure: never over plain
    # HTTP to anything but this machine (browsers count 127.0.0.1 and localhost as secure).
    response.set_cookie(SESSION_COOKIE, token, httponly=True, secure=settings.cookie_secure, samesite="strict",
                        path="/", max_age=settings.web_session_ttl_s)


@router.get("/ui/login")
async def login_page(request: Request, next: str | None = None):
    me = await optional_principal(request)
    if me is not None:
        return RedirectResponse(safe_next(next, home_for(me)), status_code=303)
    return render(request, "signin.html", None, title="Sign in", next=safe_next(next, ""),
                  oidc_enabled=oidc.enabled(request.app.state.ctx.settings))


@router.post("/ui/login")
async def login(request: Request, s: SessionDep, ctx: ContextDep, username: str = Form(""),
                password: str = Form(""), next: str = Form("")):
    # A refusal is returned, not raised, and rendered as a page: the request's transaction commits its
    # audit event and the throttle's count.
    result = await accounts.sign_in(s, ctx.tokens, ctx.settings, username.strip(), password,
                                    client_ip(request), request.headers.get("user-agent"))
    if isinstance(result, Problem):
        return render(request, "signin.html", None, status=result.status, title="Sign in", error=result.detail,
                      username=username, next=safe_next(next, ""), oidc_enabled=oidc.enabled(ctx.settings))
    me = Principal(sub=username.strip(), roles=frozenset(result.roles))
    response = RedirectResponse(safe_next(next, home_for(me)), status_code=303)
    set_session_cookie(request, response, result.token)
    return response


@router.post("/ui/logout")
async def logout(s: SessionDep, me: Principal = Depends(signed_in())):
    await accounts.sign_out(s, me, me.jti)
    response = done("/ui/login", "You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/ui/login/oidc")
async def oidc_start(request: Request, next: str | None = None):
    url, state_cookie = await oidc.start(request.app.state.ctx, safe_next(next, ""))
    response = RedirectResponse(url, status_code=303)
    oidc.set_state_cookie(request, response, state_cookie)
    return response


@router.get("/ui/login/oidc/callback")
async def oidc_callback(request: Request, s: SessionDep, ctx: ContextDep, code: str | None = None,
                        state: str | None = None, error: str | None = None, error_description: str | None = None):
    try:
        person_id, roles, next_path, email = await oidc.finish(ctx, request, code, state, error, error_description)
        result = await accounts.sign_in_external(s, ctx.tokens, ctx.settings, person_id, roles,
                                                 client_ip(request), request.headers.get("user-agent"), email=email)
        if isinstance(result, Problem):  # refused and audited: rendered, so the refusal's event commits
            raise result
    except Problem as p:
        response = render(request, "signin.html", None, status=p.status, title="Sign in", error=p.detail,
                          next="", oidc_enabled=oidc.enabled(ctx.settings))
        oidc.clear_state_cookie(response)
        return response
    me = Principal(sub=person_id, roles=frozenset(result.roles))
    response = RedirectResponse(safe_next(next_path, home_for(me)), status_code=303)
    set_session_cookie(request, response, result.token)
    oidc.clear_state_cookie(response)
    return response


@router.get("/ui/")
@router.get("/ui")
async def home(request: Request, me: Principal = Depends(signed_in())):
    return RedirectResponse(home_for(me), status_code=303)


@router.get("/")
async def root(request: Request):
    return RedirectResponse("/ui/", status_code=307)


__all__ = ["router", "set_session_cookie", "flash"]
