"""Issue 12, properties 9, 10 and 12 on both stacks, each tried the way an attacker would:
tokens for people are bounded, audited and revocable on every process; sign-in reveals nothing and
cannot lock out the real person; an identity from the force's provider cannot become someone else."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jose import jwt

from service.app import create_app
from service.auth import accounts
from service.auth import service as auth
from service.auth.service import DOCK_TOKEN_TTL, TokenService
from service.config import ConfigError, Settings
from service.context import build_context
from service.db import transaction
from service.errors import Problem
from service.timeutil import utcnow
from tests.fixtures.idp import CLIENT_ID, CLIENT_SECRET, RunningProvider
from tests.helpers import CLI_ADMIN, ROOT, bin_path, csrf, set_cookies

PASSWORD = "the-right-password"
SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _events(stack, **params) -> list[dict]:
    r = await stack.client.get("/v1/audit", params={"limit": 500, **params}, headers=stack.auth("aud-1", "auditor"))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _alerts(stack, subject_id: str) -> list[dict]:
    r = await stack.client.get("/v1/alerts", params={"kind": "sign_in_throttled", "limit": 500},
                               headers=stack.auth("sgt-1", "supervisor"))
    assert r.status_code == 200, r.text
    return [a for a in r.json()["items"] if a["subject_id"] == subject_id]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _whoami(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/v1/alerts", headers=_bearer(token))).status_code


# ---- 9. tokens for people: bounded, audited, revocable -----------------------------------------------


@SETTINGS
@given(ttl=st.integers(-2, 2) | st.integers(43200 - 3, 43200 + 3) | st.sampled_from([DOCK_TOKEN_TTL, DOCK_TOKEN_TTL + 1, 3153600000, 10**12]),
       roles=st.lists(st.sampled_from(["dock", "officer", "admin", "auditor"]), min_size=1, max_size=3, unique=True))
async def test_a_persons_token_is_capped_and_every_issue_is_audited(stack, ttl, roles):
    """Around the cap: at most BWV_MAX_TOKEN_TTL_S for anyone with a person's role, audited with who,
    for whom, roles, expiry and jti (never the token); a refusal issues and audits nothing. A dock-only
    token is not capped (docks end by revocation)."""
    cap = stack.ctx.settings.max_token_ttl_s
    assert cap == 43200  # the documented default
    sub = _uid("person")
    before = await _events(stack, action="token.issued")
    try:
        async with transaction(stack.ctx.sessions) as s:
            token, claims = await auth.issue_person_token(s, stack.ctx.tokens, stack.ctx.settings, CLI_ADMIN, sub,
                                                          roles, ttl)
    except Problem as p:
        assert ttl <= 0 or ttl > DOCK_TOKEN_TTL or (ttl > cap and set(roles) != {"dock"}), (ttl, roles, p.detail)
        assert p.status == 422 and ("ttl" in p.detail)
        assert await _events(stack, action="token.issued") == before
        return
    assert 0 < ttl <= DOCK_TOKEN_TTL and (ttl <= cap or set(roles) == {"dock"}), (ttl, roles)
    assert claims["exp"] - claims["iat"] == ttl
    after = await _events(stack, action="token.issued")
    assert len(after) == len(before) + 1
    event = after[-1]
    assert event["actor"] == CLI_ADMIN.sub and event["object_id"] == claims["jti"]
    d = event["details"]
    assert d["sub"] == sub and d["roles"] == sorted(roles) and d["jti"] == claims["jti"]
    assert datetime.fromisoformat(d["expires_at"].replace("Z", "+00:00")).timestamp() == claims["exp"]
    assert token not in json.dumps(event) and token.split(".")[2] not in json.dumps(event)


async def test_reserved_actors_cannot_be_issued_a_token(stack):
    for sub in ("system:retention", "cli:root", "anonymous"):
        async with transaction(stack.ctx.sessions) as s:
            with pytest.raises(Problem, match="reserved"):
                await auth.issue_person_token(s, stack.ctx.tokens, stack.ctx.settings, CLI_ADMIN, sub, ["admin"], 60)


@asynccontextmanager
async def _replica(stack) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process's app on the same database and store: what a second `bwv serve` would be."""
    ctx = build_context(stack.settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ctx=ctx)),
                                     base_url="http://replica.test", timeout=60) as client:
            yield client
    finally:
        await ctx.close()


def _cli(stack, *args: str) -> subprocess.CompletedProcess[str]:
    """`bwv` in its own process, against the stack's own database (as an operator would run it)."""
    st_ = stack.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWV_")}
    env.update(BWV_DATA_DIR=str(st_.data_dir), BWV_SECRET_KEY=st_.secret_key, BWV_POLICY_DIR=str(ROOT / "policies"),
               BWV_DATABASE_URL=st_.db_url, BWV_STORAGE_URL=st_.object_store_url, COLUMNS="200", NO_COLOR="1")
    if st_.s3_endpoint_url:
        env["BWV_S3_ENDPOINT_URL"] = st_.s3_endpoint_url
    return subprocess.run([bin_path(), *args], env=env, capture_output=True, text=True, timeout=120)


async def test_revoking_one_jti_refuses_it_on_every_process_at_once(stack):
    sub = _uid("pc")
    doomed, _ = stack.ctx.tokens.issue(sub, ["supervisor"], 600)
    kept, _ = stack.ctx.tokens.issue(sub, ["supervisor"], 600)
    jti = jwt.get_unverified_claims(doomed)["jti"]
    async with _replica(stack) as replica:
        for client in (stack.client, replica):  # both processes have seen the token work
            assert await _whoami(client, doomed) == 200
        p = await asyncio.to_thread(_cli, stack, "token", "revoke", "--jti", jti)  # a third process revokes
        assert p.returncode == 0, p.stderr
        for client in (stack.client, replica):
            r = await client.get("/v1/alerts", headers=_bearer(doomed))
            assert r.status_code == 401 and r.json()["type"].endswith("/token-revoked"), r.text
            assert await _whoami(client, kept) == 200  # only that token
    event = (await _events(stack, action="token.revoked", object_id=jti))[-1]
    assert event["actor"].startswith("cli:") and event["details"]["kind"] == "jti"


async def test_revoking_a_person_refuses_their_older_tokens_and_sessions_but_not_newer_ones(stack):
    name = _uid("sgt")
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, CLI_ADMIN, name, ["supervisor"], PASSWORD)
    api_token, _ = stack.ctx.tokens.issue(name, ["supervisor"], 600)
    async with transaction(stack.ctx.sessions) as s:
        session = await accounts.sign_in(s, stack.ctx.tokens, stack.ctx.settings, name, PASSWORD, "10.1.1.1", "t")
    other, _ = stack.ctx.tokens.issue(_uid("someone-else"), ["supervisor"], 600)
    for t in (api_token, session.token, other):
        assert await _whoami(stack.client, t) == 200
    async with transaction(stack.ctx.sessions) as s:
        await auth.revoke_tokens(s, CLI_ADMIN, sub=name)
    async with _replica(stack) as replica:
        for client in (stack.client, replica):
            for t in (api_token, session.token):  # the API token and the console session's JWT alike
                assert await _whoami(client, t) == 401
            assert await _whoami(client, other) == 200
            # Issued after the revocation (the token service's clock a second on: `iat` has whole seconds).
            later = TokenService(stack.settings, clock=lambda: utcnow() + timedelta(seconds=1.5))
            fresh, _ = later.issue(name, ["supervisor"], 600)
            assert await _whoami(client, fresh) == 200
    event = (await _events(stack, action="token.revoked", object_id=name))[-1]
    assert event["details"]["kind"] == "sub" and event["actor"] == CLI_ADMIN.sub


async def test_revoke_names_exactly_one_thing(stack):
    for kw in ({}, {"sub": "a", "jti": "b"}, {"sub": ""}, {"jti": "x" * 201}):
        async with transaction(stack.ctx.sessions) as s:
            with pytest.raises(Problem):
                await auth.revoke_tokens(s, CLI_ADMIN, **kw)
    assert await _events(stack, action="token.revoked") == []


@pytest.fixture(scope="module")
def idp():
    people = {"insp-1": ["supervisor"],
              "impostor-admin": {"sub": "idp-7f3a", "preferred_username": "admin-1", "roles": ["supervisor"]},
              "impostor-officer": {"sub": "idp-9c2e", "preferred_username": "pc-oidc-real", "roles": ["officer"]},
              "real-officer": {"sub": "pc-oidc-real", "preferred_username": "pc-oidc-real", "roles": ["officer"]},
              "collider": {"sub": "admin-1", "roles": ["admin"]},
              "sys": {"sub": "system:retention", "roles": ["admin"]},
              "cli": {"sub": "cli:root", "roles": ["admin"]},
              "staff-no": {"sub": "idp-staff-no", "employee_id": "E1234", "roles": ["auditor"]}}
    with RunningProvider(people) as provider:
        yield provider


@pytest.fixture
def rs256(stack, idp, tmp_path):
    """The stack accepting RS256 bearer tokens from the provider (BWV_JWKS_FILE + BWV_JWT_AUDIENCE)."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(idp.jwks))
    stack.ctx.settings.jwks_file, stack.ctx.settings.jwt_audience = jwks, "bodycam-api"
    stack.ctx.settings.jwt_issuer = idp.issuer
    stack.app.state.tokens = stack.ctx.tokens = TokenService(stack.ctx.settings)
    return idp


def _claims(idp, **over) -> dict:
    now = int(utcnow().timestamp())
    claims = {"iss": idp.issuer, "aud": "bodycam-api", "sub": _uid("force"), "roles": ["supervisor"],
              "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


async def test_rs256_tokens_must_be_meant_for_bodycam(stack, rs256):
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, CLI_ADMIN, "admin-1", ["admin"], PASSWORD)
    ok = [_claims(rs256), _claims(rs256, aud=["another-app", "bodycam-api"]),
          _claims(rs256, sid="provider-session-id")]  # a provider's own sid is not a console session
    refused = [_claims(rs256, aud=None), _claims(rs256, aud="another-app"), _claims(rs256, aud=["another-app"]),
               _claims(rs256, aud=""), _claims(rs256, iss="https://elsewhere.example"),
               _claims(rs256, sub="system:retention"), _claims(rs256, sub="cli:root"),
               _claims(rs256, sub="admin-1")]  # a local account's name
    for claims in ok:
        assert await _whoami(stack.client, rs256.mint(claims)) == 200, claims
    for claims in refused:
        r = await stack.client.get("/v1/alerts", headers=_bearer(rs256.mint(claims)))
        assert r.status_code == 401, (claims, r.text)
    revoked = _claims(rs256)
    async with transaction(stack.ctx.sessions) as s:
        await auth.revoke_tokens(s, CLI_ADMIN, jti=revoked["jti"])
    assert await _whoami(stack.client, rs256.mint(revoked)) == 401  # revocation covers provider tokens too


def test_a_jwks_without_an_audience_does_not_start(tmp_path):
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    with pytest.raises(ConfigError, match="BWV_JWT_AUDIENCE"):
        Settings(data_dir=tmp_path, policy_dir=ROOT / "policies", jwks_file=jwks).validate_startup()


# ---- 12. OIDC identities cannot impersonate -----------------------------------------------------------


async def _oidc_sign_in(stack, idp, person: str) -> httpx.Response:
    """The whole authorization code flow: bodycam -> the provider's form -> bodycam's callback."""
    s = stack.ctx.settings
    s.oidc_issuer, s.oidc_client_id, s.oidc_client_secret = idp.issuer, CLIENT_ID, CLIENT_SECRET
    start = await stack.client.get("/ui/login/oidc")
    assert start.status_code == 303, start.text
    state_cookie = set_cookies(start)["bwv_oidc"]
    query = dict(parse_qsl(urlsplit(start.headers["location"]).query))
    async with httpx.AsyncClient(base_url=idp.issuer) as provider:
        back = await provider.post("/authorize", data={**query, "username": person})
    assert back.status_code == 303, back.text
    callback = urlsplit(back.headers["location"])
    return await stack.client.get(f"{callback.path}?{callback.query}", headers={"Cookie": f"bwv_oidc={state_cookie}"})


def _session_sub(r: httpx.Response) -> str | None:
    token = set_cookies(r).get("bwv_session")
    return jwt.get_unverified_claims(token)["sub"] if token else None


async def test_an_editable_name_never_becomes_someone_else(stack, idp):
    """preferred_username is what some providers let people edit: naming a local admin or another officer
    there signs the person in as themselves (their stable `sub`), never as that account."""
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, CLI_ADMIN, "admin-1", ["admin"], PASSWORD)
    real = await _oidc_sign_in(stack, idp, "real-officer")
    assert real.status_code == 303 and _session_sub(real) == "pc-oidc-real"
    for person, own_id in (("impostor-admin", "idp-7f3a"), ("impostor-officer", "idp-9c2e")):
        r = await _oidc_sign_in(stack, idp, person)
        assert r.status_code == 303, r.text
        assert _session_sub(r) == own_id  # not admin-1, not pc-oidc-real
        token = set_cookies(r)["bwv_session"]
        assert (await stack.client.get("/v1/audit", headers=_bearer(token))).status_code == 403  # no admin powers
    signed_in = await _events(stack, action="auth.signed_in")
    assert {e["actor"] for e in signed_in} == {"pc-oidc-real", "idp-7f3a", "idp-9c2e"}


@pytest.mark.parametrize("person, reason, words", [("collider", "local-account", "local account"),
                                                   ("sys", "reserved-id", "reserved"),
                                                   ("cli", "reserved-id", "reserved")])
async def test_a_provider_id_that_names_a_local_account_or_the_service_is_refused(stack, idp, person, reason, words):
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, CLI_ADMIN, "admin-1", ["admin"], PASSWORD)
    r = await _oidc_sign_in(stack, idp, person)
    assert r.status_code in (401, 409) and words in r.text, r.text
    assert "bwv_session" not in set_cookies(r)
    failed = [e for e in await _events(stack, action="auth.sign_in_failed") if e["details"].get("method") == "oidc"]
    assert [e["details"]["reason"] for e in failed] == [reason]
    assert await _events(stack, action="auth.signed_in") == []


async def test_the_id_claim_is_configured_per_issuer(stack, idp):
    stack.ctx.settings.oidc_id_claims = {idp.issuer + "/": "employee_id"}
    r = await _oidc_sign_in(stack, idp, "staff-no")
    assert r.status_code == 303 and _session_sub(r) == "E1234"


# ---- 10. sign-in reveals nothing and cannot be turned into a lock-out weapon -------------------------


def _from(stack, address: str) -> httpx.AsyncClient:
    """The same app, reached from another client address."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app, client=(address, 40000)),
                             base_url="http://bodycam.test", timeout=60)


async def _form(client: httpx.AsyncClient, username: str, password: str,
                pre: tuple[str, str] | None = None) -> httpx.Response:
    if pre is None:
        page = await client.get("/ui/login")
        pre = (set_cookies(page)["bwv_pre"], csrf(page.text))
    return await client.post("/ui/login", data={"username": username, "password": password, "csrf_token": pre[1]},
                             headers={"Cookie": f"bwv_pre={pre[0]}"})


async def test_unknown_wrong_and_throttled_answer_byte_for_byte_alike(stack):
    name = _uid("pc")
    async with _from(stack, "192.0.2.10") as c:
        page = await c.get("/ui/login")
        pre = (set_cookies(page)["bwv_pre"], csrf(page.text))
        unknown = await _form(c, name, "wrong-password!", pre)  # the account does not exist yet
        async with transaction(stack.ctx.sessions) as s:
            await accounts.add_user(s, CLI_ADMIN, name, ["officer"], PASSWORD)
        wrong = await _form(c, name, "wrong-password!", pre)
        for _ in range(stack.ctx.settings.login_max_failures):
            await _form(c, name, "wrong-password!", pre)
        throttled = await _form(c, name, PASSWORD, pre)  # the right password, while throttled
    reasons = [e["details"]["reason"] for e in await _events(stack, object_id=name) if e["action"].startswith("auth.")]
    assert reasons[0] == "unknown-user" and reasons[1] == "bad-password" and reasons[-1] == "throttled", reasons

    def answer(r: httpx.Response):
        return r.status_code, r.content, sorted((k, v) for k, v in r.headers.items() if k.lower() != "date")

    assert answer(unknown) == answer(wrong) == answer(throttled)
    assert unknown.status_code == 401


async def test_a_burst_from_one_address_does_not_keep_the_officer_out(stack):
    """An attacker hammers a named officer from one address, in parallel. Their address is throttled
    (even the right password fails there); the officer signs in from elsewhere at once; supervisors get
    one alert; every attempt is audited."""
    name = _uid("pc")
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, CLI_ADMIN, name, ["officer"], PASSWORD)
    limit = stack.ctx.settings.login_max_failures
    burst = limit * 3 + 7
    async with _from(stack, "203.0.113.66") as attacker, _from(stack, "198.51.100.7") as officer:
        results = await asyncio.gather(*[_form(attacker, name, f"guess-{i:04d}") for i in range(burst)])
        assert {r.status_code for r in results} == {401}
        assert (await _form(attacker, name, PASSWORD)).status_code == 401  # the attacker's address is throttled
        ok = await _form(officer, name, PASSWORD)
        assert ok.status_code == 303 and "bwv_session" in set_cookies(ok)
        assert (await _form(attacker, name, PASSWORD)).status_code == 401  # their success reset nothing there
    events = await _events(stack, object_id=name)
    failed = [e for e in events if e["action"] in ("auth.sign_in_failed", "auth.throttled")]
    assert len(failed) == burst + 2
    verified = [e for e in failed if e["details"]["reason"] == "bad-password"]
    assert len(verified) == limit  # only `limit` guesses were ever checked; the rest waited
    assert [e["action"] for e in failed].count("auth.throttled") == 1
    alerts = await _alerts(stack, name)
    assert len(alerts) == 1 and alerts[0]["occurrences"] == 1 and alerts[0]["details"]["address"] == "203.0.113.66"
    assert "guess" not in json.dumps(alerts) and PASSWORD not in json.dumps(events)


async def _try(stack, name: str, password: str, ip: str, now: datetime):
    async with transaction(stack.ctx.sessions) as s:
        return await accounts.sign_in(s, stack.ctx.tokens, stack.ctx.settings, name, password, ip, "t", now=now)


async def test_guessing_from_many_addresses_slows_the_account_for_a_bounded_time(stack):
    """The looser per-account ceiling: enough addresses together throttle the account for everyone,
    but only for the back-off delay; then the real person gets in (clock injected: no sleeping)."""
    cfg = stack.ctx.settings
    name = _uid("pc")
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, CLI_ADMIN, name, ["officer"], PASSWORD)
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    addresses = [f"203.0.113.{i}" for i in range(-(-cfg.login_account_max_failures // cfg.login_max_failures))]
    for ip in addresses:
        for _ in range(cfg.login_max_failures + 2):  # the extra ones are throttled and count for nothing
            assert isinstance(await _try(stack, name, "wrong-password!", ip, t0), Problem)
    refused = await _try(stack, name, PASSWORD, "198.51.100.20", t0 + timedelta(seconds=1))
    assert isinstance(refused, Problem) and refused.slug == "sign-in-failed"
    later = t0 + timedelta(seconds=cfg.login_backoff_base_s + 1)
    assert not isinstance(await _try(stack, name, PASSWORD, "198.51.100.20", later), Problem)
    assert len(await _alerts(stack, name)) == 1


async def test_spraying_many_names_from_one_address_throttles_that_address(stack):
    cfg = stack.ctx.settings
    victim = _uid("pc")
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, CLI_ADMIN, victim, ["officer"], PASSWORD)
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    sprayer = "203.0.113.200"
    for i in range(cfg.login_address_max_failures):
        await _try(stack, _uid(f"name{i}"), "Winter2030!", sprayer, t0)
    assert isinstance(await _try(stack, victim, PASSWORD, sprayer, t0), Problem)
    assert not isinstance(await _try(stack, victim, PASSWORD, "198.51.100.30", t0), Problem)
    alerts = await _alerts(stack, sprayer)
    assert len(alerts) == 1 and alerts[0]["subject_type"] == "address"


async def test_a_long_name_is_just_another_failure(stack):
    """Names past the audit's 100-character object id (and past 200) are refused like any other."""
    for name in ("n" * 150, "admin-1" + "x" * 300):
        r = await _attempt_http(stack, name)
        assert r.status_code == 401, r.text
    long_sub = "p" * 180
    async with transaction(stack.ctx.sessions) as s:
        await auth.revoke_tokens(s, CLI_ADMIN, sub=long_sub)
    token, _ = stack.ctx.tokens.issue(long_sub, ["supervisor"], 60)
    assert await _whoami(stack.client, token) == 401


async def _attempt_http(stack, name: str) -> httpx.Response:
    async with _from(stack, "192.0.2.77") as c:
        return await _form(c, name, "wrong-password!")
