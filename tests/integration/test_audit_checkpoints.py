"""DESIGN.md rule 8: an insider with the database cannot rewrite history unseen. Each test plays a DBA (or
the app's own role) who rewrites the log with the project's own hashing code, so the chain alone verifies,
then checks that verification against the signed, write-once checkpoints catches it and says where."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
from sqlalchemy import delete, insert, select, text, update

from service.audit import checkpoints
from service.audit import service as audit
from service.audit.chain import GENESIS, event_hash
from service.audit.models import AuditCheckpoint, AuditEvent, AuditHead, VerificationMode
from service.audit.tasks import audit_checkpoint
from service.auth.schemas import Principal
from service.db import transaction
from tests.helpers import bin_path, worker_env

ACTOR = Principal(sub="pc-7", roles=frozenset({"officer"}), ip="10.0.0.7")
AUDITOR = Principal(sub="aud-1", roles=frozenset({"auditor"}))
FIELDS = ("seq", "at", "actor", "roles", "action", "object_type", "object_id", "details", "ip", "prev_hash")


async def _append(stack, n: int, tag: str = "e") -> None:
    for i in range(n):
        async with transaction(stack.ctx.sessions) as s:
            await audit.record(s, ACTOR, "test.event", "recording", f"rec-{tag}-{i}", {"i": i})


async def _checkpoint(stack) -> int:
    seq = await audit_checkpoint(stack.ctx)
    assert seq is not None
    return seq


async def _verify(stack, mode=VerificationMode.FULL, witness=None):
    async with transaction(stack.ctx.sessions) as s:
        return await audit.verify_as(s, AUDITOR, stack.ctx.signer, stack.ctx.store, mode=mode, witness=witness)


async def _events(stack) -> list[dict]:
    async with stack.ctx.sessions() as s:
        rows = (await s.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars()
        return [{f: getattr(r, f) for f in FIELDS} for r in rows]


async def _rewrite(stack, events: list[dict]) -> None:
    """The insider's rewrite: renumber, re-chain and re-hash every event with the project's own code, replace
    the table and its head. The append-only trigger is switched off first, as a DBA (or the app's role) can."""
    prev, rows = GENESIS, []
    for n, ev in enumerate(events, start=1):
        fields = {**ev, "seq": n, "prev_hash": prev}
        prev = event_hash(**fields)
        rows.append({**fields, "hash": prev})
    async with stack.ctx.sessions() as s, s.begin():
        if stack.ctx.engine.dialect.name == "postgresql":
            await s.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        await s.execute(delete(AuditEvent))
        if rows:
            await s.execute(insert(AuditEvent), rows)
        await s.execute(delete(AuditHead))
        if rows:
            await s.execute(insert(AuditHead).values(id=1, seq=len(rows), hash=prev))
        if stack.ctx.engine.dialect.name == "postgresql":
            await s.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))


async def _history(stack) -> tuple[int, int]:
    """Events, a checkpoint, more events, a second checkpoint, then an unsigned tail: (first, second)."""
    await stack.drain_jobs()
    await _append(stack, 6, "a")
    first = await _checkpoint(stack)
    await _append(stack, 6, "b")
    second = await _checkpoint(stack)
    await _append(stack, 2, "c")
    assert (await _verify(stack)).ok
    return first, second


# Re-attributing and inserting go the same way as editing and deleting (a rewrite re-hashed to the end): they run
# with `make test-long`, to keep the default suite quick.
ATTACKS = ["edit", pytest.param("reattribute", marks=pytest.mark.long), "delete",
           pytest.param("insert", marks=pytest.mark.long), "truncate", "empty", "drop-checkpoint-rows"]


@pytest.mark.parametrize("attack", ATTACKS)
async def test_an_insider_rewriting_the_log_is_caught_by_the_signed_checkpoints(stack, attack):
    first, second = await _history(stack)
    events = await _events(stack)
    target = first + 2  # an event between the two checkpoints
    i = target - 1
    assert (await _verify(stack)).ok
    if attack == "edit":
        events[i]["details"] = {"i": -1, "note": "never happened"}
    elif attack == "reattribute":
        events[i]["actor"] = "someone-else"
    elif attack == "delete":
        del events[i]
    elif attack == "insert":
        events.insert(i, {**events[i], "action": "recording.viewed", "object_id": "rec-planted"})
    elif attack == "truncate":
        events = events[:target - 1]
    if attack == "empty":
        async with stack.ctx.engine.begin() as conn:
            if stack.ctx.engine.dialect.name == "postgresql":
                # TRUNCATE fires no row trigger: the app's own role can do this.
                await conn.execute(text("TRUNCATE audit_events, audit_head"))
            else:
                await conn.execute(text("DELETE FROM audit_events"))
                await conn.execute(text("DELETE FROM audit_head"))
    elif attack == "drop-checkpoint-rows":
        async with stack.ctx.engine.begin() as conn:
            await conn.execute(delete(AuditCheckpoint))
    else:
        await _rewrite(stack, events)
        async with stack.ctx.sessions() as s:  # the chain alone now verifies: only the checkpoints can tell
            assert (await audit.verify(s)).ok
    result = await _verify(stack)
    assert not result.ok, (attack, result)
    if attack in ("edit", "reattribute", "delete", "insert"):
        assert result.first_bad_seq == first + 1 and f"checkpoint {second}" in result.reason, result
    elif attack == "truncate":
        assert result.first_bad_seq == target and "removed" in result.reason, result
    elif attack == "empty":
        assert result.first_bad_seq == 1 and "removed" in result.reason, result
    else:
        assert result.first_bad_seq == first and "missing from the database" in result.reason, result


async def test_deleting_checkpoint_rows_and_rewriting_is_still_caught_and_copies_are_write_once(stack):
    first, second = await _history(stack)
    events = await _events(stack)
    events[first - 1]["object_id"] = "rec-swapped"
    await _rewrite(stack, events)
    async with stack.ctx.engine.begin() as conn:
        await conn.execute(delete(AuditCheckpoint))
    result = await _verify(stack)
    assert not result.ok and result.first_bad_seq == 1 and f"checkpoint {first}" in result.reason, result
    key = checkpoints.storage_key(first)
    if stack.mode == "pg_s3":  # COMPLIANCE retention: not even the service's own credentials delete a copy
        assert await stack.ctx.store.delete([key]) == [key]
    else:  # on disk, a read-only file the service never rewrites
        path = await stack.ctx.store.local_path(key)
        import os
        assert os.stat(path).st_mode & 0o777 == 0o400


async def test_a_forged_checkpoint_copy_is_refused(stack):
    first, _ = await _history(stack)
    async with stack.ctx.engine.begin() as conn:  # the insider edits a row's hash (no key: cannot re-sign)
        await conn.execute(update(AuditCheckpoint).where(AuditCheckpoint.seq == first).values(hash="f" * 64))
    result = await _verify(stack)
    assert not result.ok and result.first_bad_seq == first, result
    assert "does not verify" in result.reason or "differs" in result.reason, result


async def test_incremental_verification_reads_only_what_is_new_and_still_catches_rewrites(stack):
    first, second = await _history(stack)
    full = await _verify(stack)
    assert full.ok and full.latest_checkpoint_seq == second and full.from_seq == 1
    await _append(stack, 4, "d")
    third = await _checkpoint(stack)
    inc = await _verify(stack, VerificationMode.INCREMENTAL)
    assert inc.ok and inc.mode == "incremental" and inc.from_seq == second + 1, inc
    assert inc.events < third and inc.latest_checkpoint_seq == third
    # A rewrite before where the next incremental run starts: its starting event no longer hashes to its checkpoint.
    events = await _events(stack)
    events[first]["actor"] = "someone-else"
    await _rewrite(stack, events)
    inc = await _verify(stack, VerificationMode.INCREMENTAL)
    assert not inc.ok and inc.first_bad_seq == third and "no longer hashes" in inc.reason, inc
    full = await _verify(stack)
    assert not full.ok and full.first_bad_seq == first + 1, full


async def test_checkpoints_over_http_keys_openssl_and_a_witness_copy(stack, tmp_path):
    await _history(stack)
    latest = await stack.client.get("/v1/audit/checkpoints/latest")  # no login
    assert latest.status_code == 200, latest.text
    cp = latest.json()
    assert set(cp) >= {"seq", "hash", "at", "key_id", "signature"} and "actor" not in json.dumps(cp)
    keys = (await stack.client.get("/v1/keys")).json()["keys"]
    assert keys[0]["key_id"] == cp["key_id"] and keys[0]["alg"] == "Ed25519"
    # A witness checks it with OpenSSL alone.
    (tmp_path / "force.pem").write_text(keys[0]["public_key_pem"])
    (tmp_path / "cp.bin").write_bytes(checkpoints.message(cp["seq"], cp["hash"], cp["at"], cp["key_id"]))
    (tmp_path / "cp.sig").write_bytes(base64.b64decode(cp["signature"]))
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", str(tmp_path / "force.pem"), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    import hashlib
    assert hashlib.sha256(der).hexdigest() == cp["key_id"]
    ok = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "force.pem"), "-rawin",
                         "-in", str(tmp_path / "cp.bin"), "-sigfile", str(tmp_path / "cp.sig")], capture_output=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    listed = await stack.client.get("/v1/audit/checkpoints", headers=stack.auth("aud", "auditor"))
    assert listed.status_code == 200 and listed.json()["items"][0] == cp
    assert (await stack.client.get("/v1/audit/checkpoints", headers=stack.auth("pc", "officer"))).status_code == 403
    r = await stack.client.post("/v1/audit/verify", json=cp, headers=stack.auth("aud", "auditor"))
    assert r.status_code == 200 and r.json()["ok"], r.text
    forged = {**cp, "hash": "0" * 64}
    r = await stack.client.post("/v1/audit/verify", json=forged, headers=stack.auth("aud", "auditor"))
    assert r.status_code == 200 and not r.json()["ok"] and "witness file" in r.json()["reason"], r.text
    bad = await stack.client.post("/v1/audit/verify", json={"seq": "x"}, headers=stack.auth("aud", "auditor"))
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    r = await stack.client.get("/v1/audit/verify?mode=incremental", headers=stack.auth("aud", "auditor"))
    assert r.status_code == 200 and r.json()["ok"] and r.json()["mode"] == "incremental", r.text


@pytest.mark.long  # four `bwv` processes: slow on a loaded machine
async def test_bwv_audit_checkpoint_and_verify_with_a_witness_file(stack, tmp_path):
    if stack.mode != "pg_s3":
        pytest.skip("one CLI round trip is enough; the embedded stack's data dir is the test's")
    env = {**worker_env(stack)}
    bwv = bin_path()
    made = subprocess.run([bwv, "audit", "checkpoint"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    saved = tmp_path / "witness.json"
    saved.write_text(made.stdout)
    ok = subprocess.run([bwv, "audit", "verify", "--checkpoint", str(saved)], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "audit chain ok" in ok.stdout, ok.stdout + ok.stderr
    events = await _events(stack)
    events[0]["actor"] = "someone-else"
    await _rewrite(stack, events)
    async with stack.ctx.engine.begin() as conn:
        await conn.execute(delete(AuditCheckpoint))
    bad = subprocess.run([bwv, "audit", "verify", "--checkpoint", str(saved)], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "BROKEN at seq 1" in bad.stdout, bad.stdout + bad.stderr
    shown = subprocess.run([bwv, "keys", "show"], env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and stack.ctx.signer.key_id in shown.stdout, shown.stdout + shown.stderr


async def test_the_auditors_console_shows_the_checkpoint_and_names_the_first_bad_event(stack):
    from tests.helpers import console_session

    first, second = await _history(stack)
    cookie = await console_session(stack, "aud-web", ["auditor"])
    page = await stack.client.get("/ui/audit", headers=cookie)
    assert page.status_code == 200 and 'data-testid="checkpoint"' in page.text
    assert f"1 to {second}" in page.text and "/v1/audit/checkpoints/latest" in page.text
    ok = await stack.client.get("/ui/audit/verify", headers=cookie)
    assert ok.status_code == 200 and "Chain intact" in ok.text, ok.text
    events = await _events(stack)
    events[first + 1]["actor"] = "someone-else"
    await _rewrite(stack, events)
    bad = await stack.client.get("/ui/audit/verify?mode=incremental", headers=cookie)
    assert bad.status_code == 200 and "Chain broken" in bad.text, bad.text
    bad = await stack.client.get("/ui/audit/verify", headers=cookie)
    assert f'data-testid="first-bad">{first + 1}<' in bad.text, bad.text


async def test_concurrent_checkpoint_makers_and_writers_leave_one_checkpoint_per_head(stack):
    import asyncio

    async def makers() -> None:
        for _ in range(3):
            await asyncio.gather(*[audit_checkpoint(stack.ctx) for _ in range(4)])

    await asyncio.gather(_append(stack, 10, "w1"), _append(stack, 10, "w2"), makers())
    await _checkpoint(stack)
    result = await _verify(stack)
    assert result.ok and result.checkpoints >= 1, result
    seqs, _ = await checkpoints.stored(stack.ctx.store)
    async with stack.ctx.sessions() as s:
        rows = (await s.execute(select(AuditCheckpoint.seq))).scalars().all()
    assert sorted(rows) == seqs  # every row has its one write-once copy, and no copy lacks its row


async def test_unusable_witness_checkpoints_are_refused_and_change_nothing(stack):
    from tests.helpers import assert_problem

    aud = stack.auth("aud", "auditor")
    for body in ({"seq": 10**30, "hash": "0", "at": "x", "key_id": "k", "signature": "AAAA"},
                 {"seq": 0, "hash": "0", "at": "x", "key_id": "k", "signature": "AAAA"},
                 {"seq": 1, "hash": "0", "at": "x", "key_id": "k", "signature": "not base64!"},
                 {"seq": 1, "hash": "0", "at": "x", "key_id": "k", "signature": 5}, {}):
        assert_problem(await stack.client.post("/v1/audit/verify", json=body, headers=aud), 422)
    # Not an object at all: the app's one answer for a body of the wrong JSON type on every route.
    assert_problem(await stack.client.post("/v1/audit/verify", json=[1], headers=aud), 400)
