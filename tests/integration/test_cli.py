"""The real ``bwv`` console script in subprocesses (embedded mode), plus the PostgreSQL audit trigger.

Operator mistakes must end in one readable line on stderr and exit 2, never a Python traceback.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import asyncpg
import pytest
from jose import jwt

from tests.fixtures.services import PG_HOST, PG_PORT, PG_USER, create_database, drop_database
from tests.helpers import ROOT, bin_path

SECRET = "cli-test-secret-key"


def run_bwv(data_dir: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BWV_")}
    # A narrow terminal: rich must not wrap a one-line message into two.
    base.update(BWV_DATA_DIR=str(data_dir), BWV_SECRET_KEY=SECRET, BWV_POLICY_DIR=str(ROOT / "policies"),
                COLUMNS="60", NO_COLOR="1")
    base.update(env)
    return subprocess.run([bin_path(), *args], env=base, cwd=data_dir.parent, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(p: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    p = run_bwv(d, "migrate")
    assert p.returncode == 0, p.stderr
    assert (d / "bwv.db").exists()
    return d


def audit_rows(data_dir: Path) -> list[tuple]:
    with sqlite3.connect(data_dir / "bwv.db") as db:
        return db.execute("SELECT seq, actor, action, object_id FROM audit_events ORDER BY seq").fetchall()


def test_migrate_is_idempotent(data_dir):
    again = run_bwv(data_dir, "migrate")
    assert again.returncode == 0 and "newest revision" in again.stdout


def test_token_issue_prints_a_jwt_with_those_roles(data_dir):
    p = run_bwv(data_dir, "token", "issue", "--sub", "x", "--role", "officer", "--role", "supervisor")
    assert p.returncode == 0, p.stderr
    token = p.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "x" and sorted(claims["roles"]) == ["officer", "supervisor"]
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"]
    with pytest.raises(Exception):  # noqa: B017 - any JWTError: signed with our key, not another
        jwt.decode(token, "another-key", algorithms=["HS256"])
    short = run_bwv(data_dir, "token", "issue", "--sub", "y", "--role", "auditor", "--ttl", "60")
    c = jwt.decode(short.stdout.strip(), SECRET, algorithms=["HS256"])
    assert c["exp"] - c["iat"] == 60 and c["roles"] == ["auditor"]


def test_token_issue_refuses_bad_input(data_dir):
    line = assert_one_line_error(run_bwv(data_dir, "token", "issue", "--sub", "x", "--role", "wizard"), 2,
                                 "wizard")
    assert "officer" in line  # says what the roles are
    assert_one_line_error(run_bwv(data_dir, "token", "issue", "--sub", "x", "--role", "officer", "--ttl", "0"), 2,
                          "ttl")
    assert_one_line_error(run_bwv(data_dir, "token", "issue", "--sub", "", "--role", "officer"), 2, "sub")
    missing = run_bwv(data_dir, "token", "issue", "--sub", "x")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr and "--role" in missing.stderr


def _details(data_dir: Path, seq: int) -> dict:
    import json

    with sqlite3.connect(data_dir / "bwv.db") as db:
        return json.loads(db.execute("SELECT details FROM audit_events WHERE seq=?", (seq,)).fetchone()[0])


def test_token_issue_caps_a_persons_token_and_audits_every_issue(data_dir):
    """The review's 100-year admin token for a made-up person: refused, nothing issued, nothing audited.
    Within the cap the issue is audited: who ran it, for whom, roles, expiry, jti; never the token."""
    before = audit_rows(data_dir)
    for ttl, env in (("3153600000", {}), ("43201", {}), ("601", {"BWV_MAX_TOKEN_TTL_S": "600"})):
        p = run_bwv(data_dir, "token", "issue", "--sub", "made-up", "--role", "admin", "--ttl", ttl, **env)
        assert_one_line_error(p, 2, "BWV_MAX_TOKEN_TTL_S")
        assert p.stdout == ""
    assert audit_rows(data_dir) == before
    ok = run_bwv(data_dir, "token", "issue", "--sub", "pc-9", "--role", "officer", "--role", "supervisor",
                 "--ttl", "43200")
    assert ok.returncode == 0, ok.stderr
    token = ok.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    (seq, actor, action, object_id), = audit_rows(data_dir)[len(before):]
    assert action == "token.issued" and actor.startswith("cli:") and object_id == claims["jti"]
    details = _details(data_dir, seq)
    assert details["sub"] == "pc-9" and details["roles"] == ["officer", "supervisor"]
    assert details["jti"] == claims["jti"] and details["expires_at"].endswith("Z")
    with sqlite3.connect(data_dir / "bwv.db") as db:
        dump = "\n".join(db.iterdump())
    assert token not in dump and token.split(".")[2] not in dump
    dock = run_bwv(data_dir, "dock", "register", "d-long")  # a dock's own long-lived token still works
    assert dock.returncode == 0, dock.stderr
    dc = jwt.decode(dock.stdout.strip(), SECRET, algorithms=["HS256"])
    assert dc["exp"] - dc["iat"] > 43200


def test_token_revoke_by_jti_or_sub_is_audited_and_asks_for_exactly_one(data_dir):
    before = audit_rows(data_dir)
    for args in ([], ["--sub", "a", "--jti", "b"], ["--sub", ""]):
        p = run_bwv(data_dir, "token", "revoke", *args)
        assert_one_line_error(p, 2)
    assert audit_rows(data_dir) == before
    for flag, value in (("--jti", "0123abcd"), ("--sub", "pc-9")):
        p = run_bwv(data_dir, "token", "revoke", flag, value)
        assert p.returncode == 0 and "revoked" in p.stdout, p.stderr
    new = [(a, o) for _, _, a, o in audit_rows(data_dir)[len(before):]]
    assert new == [("token.revoked", "0123abcd"), ("token.revoked", "pc-9")]
    with sqlite3.connect(data_dir / "bwv.db") as db:
        assert db.execute("SELECT kind, value FROM token_revocations ORDER BY id").fetchall() == [
            ("jti", "0123abcd"), ("sub", "pc-9")]


def test_dock_register_and_revoke(data_dir):
    p = run_bwv(data_dir, "dock", "register", "d1", "--site", "hq")
    assert p.returncode == 0, p.stderr
    claims = jwt.decode(p.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "d1" and claims["roles"] == ["dock"]
    with sqlite3.connect(data_dir / "bwv.db") as db:
        site, jti, revoked = db.execute("SELECT site, token_jti, revoked_at FROM docks WHERE id='d1'").fetchone()
    assert site == "hq" and jti == claims["jti"] and revoked is None

    r = run_bwv(data_dir, "dock", "revoke", "d1")
    assert r.returncode == 0 and "revoked" in r.stdout, r.stderr
    with sqlite3.connect(data_dir / "bwv.db") as db:
        assert db.execute("SELECT revoked_at FROM docks WHERE id='d1'").fetchone()[0] is not None
    actions = [(a, o) for _, _, a, o in audit_rows(data_dir)]
    assert actions == [("dock.registered", "d1"), ("dock.revoked", "d1")]
    assert all(actor.startswith("cli:") for _, actor, _, _ in audit_rows(data_dir))

    before = audit_rows(data_dir)
    assert_one_line_error(run_bwv(data_dir, "dock", "revoke", "nope"), 1, "nope")
    assert_one_line_error(run_bwv(data_dir, "dock", "register", "bad/id"), 2)
    assert audit_rows(data_dir) == before  # refusals change nothing


def test_audit_verify_detects_an_edited_event(data_dir):
    run_bwv(data_dir, "dock", "register", "d1", "--site", "hq")
    run_bwv(data_dir, "dock", "revoke", "d1")
    ok = run_bwv(data_dir, "audit", "verify")
    assert ok.returncode == 0 and "ok" in ok.stdout and "2 events" in ok.stdout, (ok.stdout, ok.stderr)

    with sqlite3.connect(data_dir / "bwv.db") as db:
        db.execute("UPDATE audit_events SET actor='someone-else' WHERE seq=1")
    bad = run_bwv(data_dir, "audit", "verify")
    assert bad.returncode == 1, (bad.stdout, bad.stderr)
    assert "Traceback" not in bad.stderr
    assert "seq 1" in bad.stdout and "BROKEN" in bad.stdout


def test_audit_verify_detects_a_deleted_middle_event(data_dir):
    for args in (("dock", "register", "d1"), ("dock", "register", "d2"), ("dock", "revoke", "d1"),
                 ("dock", "revoke", "d2")):
        assert run_bwv(data_dir, *args).returncode == 0
    assert [r[0] for r in audit_rows(data_dir)] == [1, 2, 3, 4]
    assert run_bwv(data_dir, "audit", "verify").returncode == 0
    with sqlite3.connect(data_dir / "bwv.db") as db:
        db.execute("DELETE FROM audit_events WHERE seq=2")
    bad = run_bwv(data_dir, "audit", "verify")
    assert bad.returncode == 1 and "seq 2" in bad.stdout, (bad.stdout, bad.stderr)


def test_audit_verify_detects_a_deleted_last_event(data_dir):
    for args in (("dock", "register", "d1"), ("dock", "revoke", "d1")):
        assert run_bwv(data_dir, *args).returncode == 0
    with sqlite3.connect(data_dir / "bwv.db") as db:
        db.execute("DELETE FROM audit_events WHERE seq=2")
    bad = run_bwv(data_dir, "audit", "verify")
    assert bad.returncode == 1 and "seq 2" in bad.stdout, (bad.stdout, bad.stderr)


# ---- bad configuration: exit 2, one line, no traceback ----------------------------------------


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "1"], ["audit", "verify"],
                                     ["dock", "register", "d1"]])
def test_unsupported_storage_url(tmp_path, command):
    p = run_bwv(tmp_path / "data", *command, BWV_STORAGE_URL="ftp://x")
    assert_one_line_error(p, 2, "BWV_STORAGE_URL", "ftp")


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "1"], ["token", "issue", "--sub", "x",
                                                                            "--role", "officer"]])
def test_missing_policy_dir(tmp_path, command):
    p = run_bwv(tmp_path / "data", *command, BWV_POLICY_DIR="/nonexistent")
    assert_one_line_error(p, 2, "BWV_POLICY_DIR", "/nonexistent")


def test_unsupported_database_scheme(tmp_path):
    p = run_bwv(tmp_path / "data", "migrate", BWV_DATABASE_URL="mysql://root@localhost/bwv")
    assert_one_line_error(p, 2, "BWV_DATABASE_URL", "mysql")


def test_bad_redis_url(tmp_path):
    p = run_bwv(tmp_path / "data", "serve", "--port", "1", BWV_REDIS_URL="http://localhost:6379")
    assert_one_line_error(p, 2, "BWV_REDIS_URL")


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["dock", "register", "d1"], ["audit", "verify"]])
def test_negative_retention_period_names_file_and_line(tmp_path, command):
    pol = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", pol)
    path = pol / "retention.yaml"
    lines = path.read_text().splitlines(keepends=True)
    lineno = next(i for i, ln in enumerate(lines, start=1) if ln.strip().startswith("retain_days: 31"))
    lines[lineno - 1] = lines[lineno - 1].replace("retain_days: 31", "retain_days: -5")
    path.write_text("".join(lines))
    p = run_bwv(tmp_path / "data", *command, BWV_POLICY_DIR=str(pol))
    line = assert_one_line_error(p, 2, str(path), f"line {lineno}", "retain_days")
    assert "configuration error" in line


def test_policy_that_is_not_yaml_names_file_and_line(tmp_path):
    pol = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", pol)
    (pol / "clock.yaml").write_text("version: 1\nmax_drift_s: [unclosed\n")
    p = run_bwv(tmp_path / "data", "serve", "--port", "1", BWV_POLICY_DIR=str(pol))
    assert_one_line_error(p, 2, "clock.yaml", "line ")


@pytest.mark.parametrize("command", [["migrate"], ["audit", "verify"], ["dock", "revoke", "d1"]])
def test_unreachable_database(tmp_path, command):
    p = run_bwv(tmp_path / "data", *command, BWV_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/nope")
    line = assert_one_line_error(p, 2)
    assert "127.0.0.1" in line or "refused" in line.lower(), line


def test_database_that_does_not_exist(tmp_path, services_up):
    url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/bwv_no_such_database"
    for command in (["migrate"], ["audit", "verify"]):
        line = assert_one_line_error(run_bwv(tmp_path / "data", *command, BWV_DATABASE_URL=url), 2)
        assert "bwv_no_such_database" in line


# ---- PostgreSQL: the audit table refuses edits ------------------------------------------------


async def test_postgres_audit_events_are_append_only(pg_template, tmp_path):
    from service.audit import service as audit
    from service.auth.schemas import Principal
    from service.config import Settings
    from service.context import build_context
    from service.db import transaction
    from tests.fixtures.services import pg_url

    name = await create_database(pg_template)
    try:
        ctx = build_context(Settings(data_dir=tmp_path, database_url=pg_url(name), policy_dir=ROOT / "policies",
                                     secret_key=SECRET))
        try:
            async with transaction(ctx.sessions) as s:
                for i in range(3):
                    await audit.record(s, Principal(sub="tester", roles=frozenset({"admin"})), "test.event",
                                       "thing", f"t{i}", {"i": i})
            async with ctx.sessions() as s:
                assert (await audit.verify(s)).ok
        finally:
            await ctx.close()
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
        try:
            for sql in ("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 1",
                        "DELETE FROM audit_events WHERE seq = 2",
                        "UPDATE audit_events SET details = '{}'"):
                with pytest.raises(asyncpg.PostgresError, match="append-only"):
                    await conn.execute(sql)
            rows = await conn.fetch("SELECT seq, actor, object_id FROM audit_events ORDER BY seq")
            assert [(r["seq"], r["actor"], r["object_id"]) for r in rows] == [
                (1, "tester", "t0"), (2, "tester", "t1"), (3, "tester", "t2")]
        finally:
            await conn.close()
        # And the CLI agrees the chain on PostgreSQL is whole.
        p = run_bwv(tmp_path / "data", "audit", "verify", BWV_DATABASE_URL=pg_url(name))
        assert p.returncode == 0 and "3 events" in p.stdout, (p.stdout, p.stderr)
    finally:
        await drop_database(name)


def test_demo_then_retention_sweep_with_and_without_the_clock_override(data_dir):
    from datetime import UTC, datetime, timedelta

    demo = run_bwv(data_dir, "demo", timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.count("/v1/recordings/rec_") == 3 and "TOKEN_SGT_1=" in demo.stdout
    later = (datetime.now(UTC) + timedelta(days=40)).isoformat().replace("+00:00", "Z")

    now = run_bwv(data_dir, "retention", "sweep", "--dry-run")
    assert now.returncode == 0 and "would delete 0 recordings" in now.stdout, now.stdout
    refused = run_bwv(data_dir, "retention", "sweep", "--as-of", later)
    assert_one_line_error(refused, 2, "BWV_ALLOW_CLOCK_OVERRIDE")
    dry = run_bwv(data_dir, "retention", "sweep", "--dry-run", "--as-of", later, BWV_ALLOW_CLOCK_OVERRIDE="1")
    assert dry.returncode == 0 and dry.stdout.count("would delete\trec_") == 3, dry.stdout
    real = run_bwv(data_dir, "retention", "sweep", "--as-of", later, BWV_ALLOW_CLOCK_OVERRIDE="1")
    assert real.returncode == 0 and real.stdout.count("deleted\trec_") == 3, real.stdout
    # The same ids the dry run forecast, and every step is in a chain that still verifies.
    assert sorted(line.split("\t")[1] for line in dry.stdout.splitlines() if line.startswith("would")) == sorted(
        line.split("\t")[1] for line in real.stdout.splitlines() if line.startswith("deleted"))
    assert run_bwv(data_dir, "audit", "verify").returncode == 0
    db = sqlite3.connect(data_dir / "bwv.db")
    try:
        actions = [r[0] for r in db.execute("SELECT action FROM audit_events WHERE action LIKE 'retention.sweep%'")]
        # The two dry runs and the real one are each audited, and so is the refused attempt.
        assert actions.count("retention.sweep_started") == 3 and actions.count("retention.sweep_finished") == 3
        assert actions.count("retention.sweep_refused") == 1
        assert db.execute("SELECT count(*) FROM recordings WHERE status = 'deleted'").fetchone()[0] == 3
    finally:
        db.close()


def test_notify_dry_run_lists_without_sending_and_refuses_bad_settings(data_dir):
    add = run_bwv(data_dir, "user", "add", "pc-mail", "--role", "officer", "--password", "a-long-password",
                  "--email", "pc.mail@force.example")
    assert add.returncode == 0, add.stderr
    bad = run_bwv(data_dir, "user", "add", "pc-bad", "--role", "officer", "--password", "a-long-password",
                  "--email", "Pc <pc@x.example>, other@x.example")
    assert bad.returncode == 2 and "not an e-mail address" in bad.stderr
    dry = run_bwv(data_dir, "notify", "--dry-run")
    assert dry.returncode == 0 and "would send 0 of 0 mails" in dry.stdout, dry.stdout + dry.stderr
    assert run_bwv(data_dir, "notify", "--kind", "nonsense").returncode == 2
    no_server = run_bwv(data_dir, "notify", "--test-to", "x@force.example")
    assert no_server.returncode == 2 and "BWV_SMTP_URL" in no_server.stderr
    wrong = run_bwv(data_dir, "notify", "--dry-run", BWV_SMTP_URL="http://mail.example")
    assert wrong.returncode == 2 and "BWV_SMTP_URL must be smtp://" in wrong.stderr
    events = [a for _, _, a, _ in audit_rows(data_dir)]
    assert "notification.sent" not in events and events.count("user.added") == 1
