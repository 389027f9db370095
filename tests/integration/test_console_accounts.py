"""Console accounts and sessions on both stacks (SQLite and PostgreSQL): lockout as a property against a
model, sessions that end when signed out, CSRF, and redirects that never leave the console."""

from __future__ import annotations

import re
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.auth import accounts
from service.auth.schemas import Principal
from service.db import transaction
from service.errors import Problem
from service.web.deps import safe_next

ADMIN = Principal(sub="test-admin", roles=frozenset({"admin"}))
PASSWORD = "the-right-password"
SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


async def _add(stack, roles=("officer",)) -> str:
    name = "u-" + uuid.uuid4().hex[:10]
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, ADMIN, name, list(roles), PASSWORD)
    return name


async def _attempt(stack, name: str, password: str):
    async with transaction(stack.ctx.sessions) as s:
        return await accounts.sign_in(s, stack.ctx.tokens, stack.ctx.settings, name, password, "10.0.0.1", "test")


@SETTINGS
@given(attempts=st.lists(st.booleans(), min_size=1, max_size=9))
async def test_lockout_follows_the_model(stack, attempts):
    """Five wrong passwords in a row lock the account; while locked even the right one is refused;
    a success resets the count. Every attempt leaves an audit event, refused or not."""
    name = await _add(stack)
    limit = stack.ctx.settings.login_max_failures
    failures, locked = 0, False
    before = await _events(stack, name)
    for right in attempts:
        result = await _attempt(stack, name, PASSWORD if right else "wrong-password!")
        if locked:
            assert isinstance(result, Problem) and result.slug == "account-locked"
        elif right:
            assert not isinstance(result, Problem), result.detail
            failures = 0
        else:
            assert isinstance(result, Problem) and result.slug == "sign-in-failed"
            failures += 1
            if failures >= limit:
                locked = True
    assert len(await _events(stack, name)) - len(before) == len(attempts)
    verify = await stack.client.get("/v1/audit/verify", headers=stack.auth("a", "auditor"))
    assert verify.json()["ok"] is True


async def _events(stack, name: str) -> list[dict]:
    r = await stack.client.get("/v1/audit", params={"object_id": name, "limit": 500}, headers=stack.auth("a", "auditor"))
    return [e for e in r.json()["items"] if e["action"].startswith("auth.")]


async def test_an_unknown_user_and_a_wrong_password_read_the_same(stack):
    name = await _add(stack)
    wrong = await _attempt(stack, name, "wrong-password!")
    unknown = await _attempt(stack, "nobody-" + uuid.uuid4().hex[:6], "wrong-password!")
    assert isinstance(wrong, Problem) and isinstance(unknown, Problem)
    assert (wrong.status, wrong.slug, wrong.detail) == (unknown.status, unknown.slug, unknown.detail)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def _cookies(r) -> dict[str, str]:
    return {h.split("=", 1)[0]: h.split("=", 1)[1].split(";", 1)[0] for h in r.headers.get_list("set-cookie")}


async def test_signing_out_ends_the_session_for_the_console_and_the_api(stack):
    name = await _add(stack, roles=("supervisor",))
    c = stack.client
    r = await c.get("/ui/login")
    pre = _cookies(r)
    r = await c.post("/ui/login", data={"username": name, "password": PASSWORD, "csrf_token": _csrf(r.text)},
                     headers={"Cookie": f"bwv_pre={pre['bwv_pre']}"})
    assert r.status_code == 303, r.text
    token = _cookies(r)["bwv_session"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await c.get("/v1/alerts", headers=bearer)).status_code == 200  # the session's JWT is a real token
    cookie = {"Cookie": f"bwv_session={token}"}
    page = await c.get("/ui/login?next=/ui/audit", headers=cookie)  # signed in: sent on, not shown the form
    assert page.status_code == 303
    assert (await c.get("/ui/", headers=cookie)).headers["location"] == "/ui/supervisor/alerts"
    public = await c.get("/transparency", headers=cookie)  # any page carries the session's form token
    r = await c.post("/ui/logout", data={"csrf_token": _csrf(public.text)}, headers=cookie)
    assert r.status_code == 303
    assert (await c.get("/v1/alerts", headers=bearer)).status_code == 401
    assert (await c.get("/ui/", headers=cookie)).headers["location"].startswith("/ui/login")


async def test_a_token_made_for_another_session_is_refused_by_csrf(stack):
    """A token is bound to its session: one copied from another browser's page does not work."""
    a, b = await _add(stack, roles=("supervisor",)), await _add(stack, roles=("supervisor",))
    sessions = {}
    for name in (a, b):
        r = await stack.client.get("/ui/login")
        r = await stack.client.post("/ui/login", data={"username": name, "password": PASSWORD,
                                                       "csrf_token": _csrf(r.text)},
                                    headers={"Cookie": f"bwv_pre={_cookies(r)['bwv_pre']}"})
        sessions[name] = {"Cookie": f"bwv_session={_cookies(r)['bwv_session']}"}
    page_b = await stack.client.get("/transparency", headers=sessions[b])
    r = await stack.client.post("/ui/logout", data={"csrf_token": _csrf(page_b.text)}, headers=sessions[a])
    assert r.status_code == 403
    still = await stack.client.get("/ui/", headers=sessions[a])
    assert still.status_code == 303 and not still.headers["location"].startswith("/ui/login")


@given(target=st.text(max_size=40) | st.sampled_from(["//evil.example", "/\\evil", "https://evil.example/",
                                                      "/ui/audit", "javascript:alert(1)", "/%2F%2Fevil"]))
def test_a_redirect_target_never_leaves_the_console(target):
    out = safe_next(target)
    assert out.startswith("/") and not out.startswith("//") and "\\" not in out
    assert out == target or out == "/ui/"


async def test_concurrent_wrong_passwords_lock_once_and_count_every_attempt(stack):
    """A password-guessing burst in parallel: the attempts serialise on the account's row, so the lock
    comes at exactly the limit, once, and no attempt goes uncounted or unaudited."""
    import asyncio

    name = await _add(stack)
    limit = stack.ctx.settings.login_max_failures
    burst = limit + 4
    results = await asyncio.gather(*[_attempt(stack, name, f"guess-{i:04d}-wrong") for i in range(burst)])
    slugs = sorted(r.slug for r in results)
    assert slugs.count("sign-in-failed") == limit and slugs.count("account-locked") == burst - limit, slugs
    events = await _events(stack, name)
    assert len(events) == burst
    assert [e["action"] for e in events].count("auth.locked") == 1
    assert isinstance(await _attempt(stack, name, PASSWORD), Problem)  # still locked for the right one
