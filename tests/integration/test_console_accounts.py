"""Console accounts and sessions on both stacks (SQLite and PostgreSQL): sign-in back-off as a property
against a model, sessions that end when signed out, CSRF, and redirects that never leave the console."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.auth import accounts
from service.db import transaction
from service.errors import Problem
from service.web.deps import safe_next
from tests.helpers import ADMIN, csrf, set_cookies

PASSWORD = "the-right-password"
SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


async def _add(stack, roles=("officer",)) -> str:
    name = "u-" + uuid.uuid4().hex[:10]
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, ADMIN, name, list(roles), PASSWORD)
    return name


async def _attempt(stack, name: str, password: str, ip: str = "10.0.0.1", now=None):
    async with transaction(stack.ctx.sessions) as s:
        return await accounts.sign_in(s, stack.ctx.tokens, stack.ctx.settings, name, password, ip, "test", now=now)


@SETTINGS
@given(steps=st.lists(st.tuples(st.booleans(), st.sampled_from([0, 4, 10, 25, 100])), min_size=1, max_size=14))
async def test_back_off_follows_the_model(stack, steps):
    """From one address: past the per-(account, address) limit every attempt waits out a delay that
    doubles with each further failure (capped); a throttled attempt, even with the right password, is
    refused and counts for nothing; a success clears the account's count but not the address's. Every
    attempt leaves an audit event. The clock is injected: nothing sleeps."""
    cfg = stack.ctx.settings
    cfg.login_max_failures, cfg.login_address_max_failures, cfg.login_account_max_failures = 3, 5, 20
    cfg.login_backoff_base_s, cfg.login_lockout_s = 10, 80
    name, ip = await _add(stack), f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9"
    t = datetime(2031, 5, 1, tzinfo=UTC)
    model = {"pair": [0, None], "address": [0, None]}  # failures, blocked until
    limits = {"pair": 3, "address": 5}
    before = await _events(stack, name)
    for right, advance in steps:
        t += timedelta(seconds=advance)
        result = await _attempt(stack, name, PASSWORD if right else "wrong-password!", ip, now=t)
        blocked = any(until is not None and t < until for _, until in model.values())
        if blocked or not right:
            assert isinstance(result, Problem) and result.slug == "sign-in-failed", (blocked, right)
        else:
            assert not isinstance(result, Problem), result.detail
            model["pair"] = [0, None]
        if not blocked and not right:
            for scope, row in model.items():
                row[0] += 1
                if row[0] >= limits[scope]:
                    row[1] = t + timedelta(seconds=min(10 * 2 ** (row[0] - limits[scope]), 80))
    assert len(await _events(stack, name)) - len(before) == len(steps)
    verify = await stack.client.get("/v1/audit/verify", headers=stack.auth("a", "auditor"))
    assert verify.json()["ok"] is True


async def _events(stack, name: str) -> list[dict]:
    r = await stack.client.get("/v1/audit", params={"object_id": name, "limit": 500}, headers=stack.auth("a", "auditor"))
    return [e for e in r.json()["items"] if e["action"].startswith("auth.")]


async def test_an_unknown_user_a_wrong_password_and_a_throttled_one_read_the_same(stack):
    name = await _add(stack)
    wrong = await _attempt(stack, name, "wrong-password!")
    unknown = await _attempt(stack, "nobody-" + uuid.uuid4().hex[:6], "wrong-password!")
    for _ in range(stack.ctx.settings.login_max_failures):
        await _attempt(stack, name, "wrong-password!")
    throttled = await _attempt(stack, name, PASSWORD)
    answers = {(p.status, p.slug, p.detail, tuple(sorted(p.extra.items()))) for p in (wrong, unknown, throttled)}
    assert len(answers) == 1, answers


async def test_signing_out_ends_the_session_for_the_console_and_the_api(stack):
    name = await _add(stack, roles=("supervisor",))
    c = stack.client
    r = await c.get("/ui/login")
    pre = set_cookies(r)
    r = await c.post("/ui/login", data={"username": name, "password": PASSWORD, "csrf_token": csrf(r.text)},
                     headers={"Cookie": f"bwv_pre={pre['bwv_pre']}"})
    assert r.status_code == 303, r.text
    token = set_cookies(r)["bwv_session"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await c.get("/v1/alerts", headers=bearer)).status_code == 200  # the session's JWT is a real token
    cookie = {"Cookie": f"bwv_session={token}"}
    page = await c.get("/ui/login?next=/ui/audit", headers=cookie)  # signed in: sent on, not shown the form
    assert page.status_code == 303
    assert (await c.get("/ui/", headers=cookie)).headers["location"] == "/ui/supervisor/alerts"
    public = await c.get("/transparency", headers=cookie)  # any page carries the session's form token
    r = await c.post("/ui/logout", data={"csrf_token": csrf(public.text)}, headers=cookie)
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
                                                       "csrf_token": csrf(r.text)},
                                    headers={"Cookie": f"bwv_pre={set_cookies(r)['bwv_pre']}"})
        sessions[name] = {"Cookie": f"bwv_session={set_cookies(r)['bwv_session']}"}
    page_b = await stack.client.get("/transparency", headers=sessions[b])
    r = await stack.client.post("/ui/logout", data={"csrf_token": csrf(page_b.text)}, headers=sessions[a])
    assert r.status_code == 403
    still = await stack.client.get("/ui/", headers=sessions[a])
    assert still.status_code == 303 and not still.headers["location"].startswith("/ui/login")


@given(target=st.text(max_size=40) | st.sampled_from(["//evil.example", "/\\evil", "https://evil.example/",
                                                      "/ui/audit", "javascript:alert(1)", "/%2F%2Fevil"]))
def test_a_redirect_target_never_leaves_the_console(target):
    out = safe_next(target)
    assert out.startswith("/") and not out.startswith("//") and "\\" not in out
    assert out == target or out == "/ui/"


async def test_concurrent_wrong_passwords_throttle_once_and_count_every_attempt(stack):
    """A password-guessing burst in parallel from one address: the attempts serialise on their throttle
    rows, so exactly the limit's worth of guesses are checked, the back-off starts once, and no attempt
    goes unaudited. (Before issue 12 this locked the account for everyone; now only that address waits.)"""
    import asyncio

    name = await _add(stack)
    limit = stack.ctx.settings.login_max_failures
    burst = limit + 4
    results = await asyncio.gather(*[_attempt(stack, name, f"guess-{i:04d}-wrong") for i in range(burst)])
    assert {r.slug for r in results} == {"sign-in-failed"}
    events = await _events(stack, name)
    assert len(events) == burst
    assert [e["details"]["reason"] for e in events].count("bad-password") == limit
    assert [e["action"] for e in events].count("auth.throttled") == 1
    assert isinstance(await _attempt(stack, name, PASSWORD), Problem)  # still waiting, at that address
    assert not isinstance(await _attempt(stack, name, PASSWORD, ip="10.0.0.2"), Problem)  # not elsewhere
