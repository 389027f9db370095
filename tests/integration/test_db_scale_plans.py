"""The console's and the jobs' hot lists at a large force's size (issue 16): PostgreSQL answers each from an
index, never by reading a whole table. The database is seeded in bulk (generate_series) to the shape of a
force a few years in: most recordings tombstoned by retention (``delete_after`` cleared), most requests closed, a long audit trail.
Each statement is the one the repository really runs (captured as it executes), explained with its own
parameters, both as planned for those values and as a prepared statement's generic plan would be.
The default run seeds 200,000 recordings; the ``long`` variant 1,000,000."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from service.audit import repository as audit_repo
from service.auth.schemas import Principal
from service.config import Settings
from service.db import engine_options, make_engine, make_sessionmaker
from service.paging import PageParams
from service.recordings import repository as recordings_repo
from service.retention import repository as retention_repo
from service.sar import repository as sar_repo
from service.sar import service as sar_service
from service.sar.models import SarSort
from tests.fixtures.services import create_database, drop_database, pg_url

HOT_TABLES = {"recordings", "audit_events", "sars"}
NOW = datetime(2026, 12, 1, tzinfo=UTC)
KEEP = ["evidence", "legal_hold"]

SEED = """
INSERT INTO recordings (id, device_id, officer_id, dock_id, upload_id, filename, content_type, size_bytes, sha256,
    storage_key, received_at, recorded_start, recorded_end, device_clock_at_dock, drift_s, time_trust,
    trusted_start, trusted_end, basis_start, basis_end, media_status, status, retention_category, delete_after,
    restricted)
SELECT 'rec_' || lpad(g::text, 26, '0'), 'cam-' || (g % 22000), 'pc-' || (g % 3000), 'dock-' || (g % 400),
    'upl_' || g, 'v' || g || '.mp4', 'video/mp4', 50000000, md5(g::text) || md5((g + 1)::text),
    'recordings/' || g, t + interval '1 hour', t, t + interval '20 minutes', t + interval '1 hour', 0, 'device',
    t, t + interval '20 minutes', t, t + interval '20 minutes', 'done',
    CASE WHEN g > :n - :active THEN 'active' ELSE 'deleted' END,
    CASE WHEN g % 50 = 0 THEN 'evidence' ELSE 'default' END,
    CASE WHEN g % 50 = 0 OR g <= :n - :active THEN NULL
         ELSE t + CASE WHEN g % 3 = 0 THEN interval '2 days' ELSE interval '31 days' END END,
    g % 500 = 0
FROM generate_series(1, :n) g, LATERAL (SELECT CAST(:now AS timestamptz) - (:n - g) * interval '40 seconds' AS t) times;

INSERT INTO audit_events (seq, at, actor, roles, action, object_type, object_id, details, prev_hash, hash)
SELECT g, CAST(:now AS timestamptz) - (:n - g) * interval '40 seconds', 'pc-' || (g % 3000), '["officer"]', 'recording.viewed',
    'recording', 'rec_' || lpad((g % :n + 1)::text, 26, '0'), '{}', repeat('0', 64), repeat('0', 64)
FROM generate_series(1, :n) g;

INSERT INTO holds (id, kind, reference, reason, q_from, q_to, created_by, created_at)
VALUES ('hold_scale', 'sar', 'SAR', 'seed', :now, :now, 'seed', :now);

INSERT INTO sars (id, regime, requester, contact, description, received_at, clock_start, due_date, due_at,
    extended_months, status, q_from, q_to, hold_id, created_by, created_at)
SELECT 'sar_' || lpad(g::text, 26, '0'), 'uk_gdpr', 'R' || g, 'c', 'd', r, r::date, (r + interval '1 month')::date,
    CASE WHEN g % 40 = 7 THEN NULL ELSE r + interval '1 month' END, 0,
    CASE WHEN g > :sars - 300 THEN 'open' WHEN g % 40 = 7 THEN 'awaiting_information' ELSE 'closed' END,
    r - interval '1 day', r, 'hold_scale', 'seed', r
FROM generate_series(1, :sars) g, LATERAL (SELECT CAST(:now AS timestamptz) - (:sars - g) * interval '2 hours' AS r) times;
"""


def _nodes(plan: dict[str, Any]):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


class Planner:
    def __init__(self, engine):
        self.engine, self.seen = engine, []

    async def explain(self, statement: str, params: Any, generic: bool) -> dict:
        async with self.engine.connect() as conn:
            if generic:
                await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
            res = await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params)
            plan = res.scalar_one()
            await conn.rollback()
        return plan[0]["Plan"] if isinstance(plan, list) else plan["Plan"]


@pytest.fixture(scope="module", params=[pytest.param(200_000, id="200k"),
                                        pytest.param(1_000_000, id="1M", marks=pytest.mark.long)])
async def scaled(request, pg_template):
    n = request.param
    name = await create_database(pg_template)
    settings = Settings(database_url=pg_url(name))
    engine = make_engine(settings.db_url, **engine_options(settings))
    try:
        async with engine.begin() as conn:
            for stmt in filter(str.strip, SEED.split(";\n")):
                await conn.execute(text(stmt), {"n": n, "active": n // 12, "now": NOW, "sars": max(2000, n // 50)})
        async with engine.begin() as conn:
            for table in ("recordings", "audit_events", "sars", "holds"):
                await conn.exec_driver_sql(f"ANALYZE {table}")
        yield Planner(engine), n
    finally:
        await engine.dispose()
        await drop_database(name)


async def _plans_of(planner: Planner, run, table: str | None = None) -> list[tuple[str, dict, dict]]:
    """Run ``run(session)`` against the seeded database; explain every statement it issued (that reads ``table``)."""
    captured: list[tuple[str, Any]] = []

    def on_execute(conn, cursor, statement, parameters, *_):
        captured.append((statement, parameters))

    event.listen(planner.engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        async with make_sessionmaker(planner.engine)() as s:
            await run(s)
            await s.rollback()
    finally:
        event.remove(planner.engine.sync_engine, "before_cursor_execute", on_execute)
    out = []
    for statement, params in captured:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        if table and f"\nFROM {table} " not in statement + " ":
            continue
        out.append((statement, await planner.explain(statement, params, generic=False),
                    await planner.explain(statement, params, generic=True)))
    assert out, "the call ran no query"
    return out


def _assert_indexed(plans, *, uses: str | None = None) -> None:
    for statement, custom, generic in plans:
        for kind, plan in (("custom", custom), ("generic", generic)):
            nodes = list(_nodes(plan))
            seq = [n["Relation Name"] for n in nodes if n["Node Type"] == "Seq Scan" and n["Relation Name"] in HOT_TABLES]
            assert not seq, f"{kind} plan reads all of {seq}:\n{statement}\n{plan}"
            if uses:
                used = {n.get("Index Name") for n in nodes}
                assert uses in used, f"{kind} plan does not use {uses} (uses {used}):\n{statement}"


SUPERVISOR = Principal(sub="sup-1", roles=frozenset({"supervisor"}))
OFFICER = Principal(sub="pc-17", roles=frozenset({"officer"}))
HANDLER = Principal(sub="sar-1", roles=frozenset({"sar_handler"}))


async def test_the_sweeps_worklist_is_read_from_the_delete_after_index(scaled):
    planner, _ = scaled
    _assert_indexed(await _plans_of(planner, lambda s: retention_repo.claim_due(s, NOW, KEEP, 1000)),
                    uses="ix_recordings_delete_after")
    _assert_indexed(await _plans_of(planner, lambda s: retention_repo.due_page(s, NOW, KEEP, after=None, limit=200)),
                    uses="ix_recordings_delete_after")
    after = (NOW - timedelta(days=2), "rec_" + "0" * 26)
    _assert_indexed(await _plans_of(planner, lambda s: retention_repo.due_page(s, NOW, KEEP, after=after, limit=200)),
                    uses="ix_recordings_delete_after")


async def test_recording_lists_are_read_from_an_index(scaled):
    planner, n = scaled
    after = (NOW - timedelta(days=30), "rec_" + "0" * 26)
    calls = [
        lambda s: recordings_repo.search(s, SUPERVISOR, limit=51),
        lambda s: recordings_repo.search(s, SUPERVISOR, status="active", limit=51),
        lambda s: recordings_repo.search(s, SUPERVISOR, after=after, limit=51),
        lambda s: recordings_repo.search(s, OFFICER, limit=51),
        lambda s: recordings_repo.search(s, OFFICER, start=NOW - timedelta(days=7), end=NOW, limit=51),
        lambda s: recordings_repo.search(s, SUPERVISOR, officer_id="pc-42", after=after, limit=51),
        lambda s: recordings_repo.search(s, SUPERVISOR, device_id="cam-99", limit=51),
        lambda s: recordings_repo.search(s, SUPERVISOR, time_basis="received", start=NOW - timedelta(days=1), limit=51),
        lambda s: recordings_repo.find_by_hash(s, "cam-7", "0" * 64),
    ]
    for call in calls:
        _assert_indexed(await _plans_of(planner, call))


async def test_the_sar_queue_by_due_date_is_read_from_an_index(scaled):
    planner, _ = scaled

    def queue(**kw):
        async def run(s):
            page = PageParams(limit=50, after=kw.pop("after", None))
            await sar_service.search(s, HANDLER, page, sort=SarSort.DUE, **kw)
        return run

    _assert_indexed(await _plans_of(planner, queue(active=True), "sars"), uses="ix_sars_active_due")
    _assert_indexed(await _plans_of(planner, queue(active=True, overdue=True), "sars"), uses="ix_sars_active_due")
    _assert_indexed(await _plans_of(planner, queue(active=True, after=[(NOW - timedelta(days=3)).isoformat(), "sar_"]), "sars"),
                    uses="ix_sars_active_due")
    _assert_indexed(await _plans_of(planner, queue()))
    _assert_indexed(await _plans_of(planner, lambda s: sar_repo.count_overdue(s, NOW)))
    _assert_indexed(await _plans_of(planner, lambda s: sar_repo.due_by(s, NOW + timedelta(days=7))))


async def test_the_audit_trail_of_one_object_is_read_from_an_index(scaled):
    planner, _ = scaled
    rid = "rec_" + "7".rjust(26, "0")
    for call in (lambda s: audit_repo.list_events(s, object_id=rid, limit=50),
                 lambda s: audit_repo.list_events(s, actor="pc-17", limit=50),
                 lambda s: audit_repo.list_events(s, limit=50, after_seq=1000),
                 lambda s: audit_repo.events_for_objects(s, [rid])):
        _assert_indexed(await _plans_of(planner, call))


async def test_a_runaway_statement_is_cancelled_by_the_configured_timeout(pg_template):
    name = await create_database(pg_template)
    settings = Settings(database_url=pg_url(name), db_statement_timeout_s=0.5, db_pool_size=3, db_max_overflow=1)
    engine = make_engine(settings.db_url, **engine_options(settings))
    try:
        assert (engine.pool.size(), engine.pool._max_overflow) == (3, 1)
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("SHOW statement_timeout")).scalar_one() == "500ms"
            with pytest.raises(Exception, match="statement timeout|canceling statement"):
                await conn.execute(text("SELECT pg_sleep(3)"))
    finally:
        await engine.dispose()
        await drop_database(name)
