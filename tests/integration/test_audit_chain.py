"""DESIGN.md rule 5 as a property: the chain verifies, and any single edit, removal, reorder or
truncation of events is detected at the right place, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from service.audit import service as audit
from service.auth.schemas import Principal
from service.db import transaction

ACTOR = Principal(sub="pc-7", roles=frozenset({"officer"}), ip="10.0.0.7")
FIELDS = ["actor", "action", "object_id", "details", "at", "roles", "ip", "prev_hash", "hash"]


async def _append(stack, n: int) -> None:
    for i in range(n):
        async with transaction(stack.ctx.sessions) as s:
            await audit.record(s, ACTOR, "test.event", "recording", f"rec-{i}", {"i": i, "note": "é ✓"})


async def _verify(stack):
    async with stack.ctx.sessions() as s:
        return await audit.verify(s)


async def _raw(stack, sql: str, **params):
    async with stack.ctx.engine.begin() as conn:
        if stack.ctx.engine.dialect.name == "postgresql":
            # Tampering needs the append-only trigger out of the way, as an attacker with DBA rights would.
            await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        res = await conn.execute(text(sql), params)
        if stack.ctx.engine.dialect.name == "postgresql":
            await conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
        return res


async def _row(stack, seq: int) -> dict:
    async with stack.ctx.engine.connect() as conn:
        return dict((await conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": seq})).mappings().one())


async def _restore(stack, row: dict) -> None:
    cols = ", ".join(row)
    vals = ", ".join(f":{k}" for k in row)
    params = {k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in row.items()}
    await _raw(stack, "DELETE FROM audit_events WHERE seq = :seq", seq=row["seq"])
    await _raw(stack, f"INSERT INTO audit_events ({cols}) VALUES ({vals})", **params)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_any_single_tampering_is_detected(stack, data):
    # Every example starts from the same valid chain of 8 events, so draws never depend on history.
    # Start-up jobs (the policy recompute) append events too: let them finish before resetting.
    await stack.drain_jobs()
    await _raw(stack, "DELETE FROM audit_events WHERE seq >= 1")
    await _raw(stack, "DELETE FROM audit_head")
    total = 8
    await _append(stack, total)
    assert (await _verify(stack)).ok
    seq = data.draw(st.integers(min_value=1, max_value=total), label="seq")
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "truncate"]), label="kind")
    original = await _row(stack, seq)
    if kind == "edit":
        field = data.draw(st.sampled_from(FIELDS), label="field")
        value = {"actor": "'someone-else'", "action": "'recording.deleted'", "object_id": "'rec-x'",
                 "details": "'{\"i\": -1}'", "roles": "'[\"admin\"]'", "ip": "'1.2.3.4'",
                 "prev_hash": "'" + "1" * 64 + "'", "hash": "'" + "f" * 64 + "'",
                 "at": "'2001-02-03 04:05:06'"}[field]
        await _raw(stack, f"UPDATE audit_events SET {field} = {value} WHERE seq = :s", s=seq)
        expected = seq
    elif kind == "delete":
        await _raw(stack, "DELETE FROM audit_events WHERE seq = :s", s=seq)
        expected = seq
    elif kind == "swap":
        other = seq + 1 if seq < total else seq - 1
        other_row = await _row(stack, other)
        # Exchange contents but keep sequence numbers: the events appear in the wrong order.
        for a, b in ((original, other_row), (other_row, original)):
            await _restore(stack, {**b, "seq": a["seq"]})
        expected = min(seq, other)
    else:
        await _raw(stack, "DELETE FROM audit_events WHERE seq >= :s", s=seq)
        expected = seq
    result = await _verify(stack)
    assert not result.ok
    assert result.first_bad_seq == expected, (kind, seq, result)


async def test_concurrent_writers_keep_the_chain_linear(stack):
    import asyncio

    await asyncio.gather(*[_append(stack, 5) for _ in range(8)])
    result = await _verify(stack)
    assert result.ok and result.events >= 40
