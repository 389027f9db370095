"""Retention as a state machine (DESIGN.md rules 1, 2, 5): random sequences of uploads (some from
cameras with broken clocks), flags, unflags, holds by id and by query, subject access requests opened
and closed, cameras docked late into a query hold, releases, clock advances and sweeps, on both
stacks, checked against a model after every step.

The model decides independently which recordings are protected and when each one is due; after every
step nothing protected may be gone, the stored ``delete_after`` must be what the policy says, the
objects in storage must be exactly the live recordings', every deletion must have a tombstone and one
audit event, and the audit chain must verify. A sweep must delete exactly what the model says is due.

On PostgreSQL + S3 (Object Lock) a rule also leaves a storage legal hold behind that the database no
longer asks for (a sync that failed): the sweep must be refused by storage, keep the recording, and
finish. A last test forces the one interleaving a sequential machine cannot reach: a query hold placed
while a camera's upload is completing.

The machine's rules are synchronous (hypothesis drives them); each runs its coroutines on one event
loop in a background thread, where the stack was built, so the database engine stays on its loop.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from service.audit.models import AuditEvent
from service.recordings.models import Recording
from service.retention.models import HoldRecording
from service.retention.sweep import sweep
from tests.fixtures.loop import Env, LoopThread
from tests.fixtures.stack import iso
from tests.helpers import ADMIN

OFFICERS = ["pc-1", "pc-2", "pc-3"]
DEVICES = ["cam-1", "cam-2", "cam-3"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TOL = timedelta(seconds=30)  # between the test's clock and the server's, for "the truth" checks only
_unique = itertools.count()


def ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


# ---- the model ---------------------------------------------------------------------------------

@dataclass
class Rec:
    id: str
    sha256: str
    officer: str
    device: str
    true_start: datetime
    true_end: datetime
    received_at: datetime
    time_trust: str
    trusted_start: datetime | None
    trusted_end: datetime | None
    recorded_start: datetime
    recorded_end: datetime
    status: str = "active"
    storage_locked: bool = False  # an S3 legal hold or unexpired retention is on the object (pg_s3 only)
    # Protected footage also gets COMPLIANCE retention days ahead on the real clock, which nobody can
    # shorten: once set it outlives this whole run, so storage refuses the sweep even after release.
    retained: bool = False

    @property
    def key(self) -> str:
        return f"recordings/{self.id}"

    @property
    def basis(self) -> tuple[datetime, datetime]:
        if self.time_trust == "untrusted":
            return self.received_at, self.received_at
        return self.trusted_start, self.trusted_end


@dataclass
class FlagM:
    id: str
    rec: str
    category: str
    created_at: datetime
    active: bool = True


@dataclass
class HoldM:
    id: str
    ids: set[str]
    query: dict[str, Any] | None = None  # officer, device, from, to
    active: bool = True
    sar: str | None = None  # the subject access request that owns it: released by closing that


def must_cover(q: dict[str, Any], r: Rec) -> bool:
    """What the truth demands: footage really captured inside the window, by that officer/camera."""
    if (q["officer"] and q["officer"] != r.officer) or (q["device"] and q["device"] != r.device):
        return False
    return r.true_start < q["to"] - TOL and r.true_end >= q["from"] + TOL


def may_cover(q: dict[str, Any], r: Rec) -> bool:
    """The documented over-inclusive rule: trusted time, the camera's own time, or an untrusted clock
    with footage received after the window opened."""
    if (q["officer"] and q["officer"] != r.officer) or (q["device"] and q["device"] != r.device):
        return False
    b0, b1 = r.basis
    return ((b0 < q["to"] and b1 >= q["from"])
            or (r.recorded_start < q["to"] and r.recorded_end >= q["from"])
            or (r.time_trust == "untrusted" and r.received_at >= q["from"]))


UPLOAD = st.tuples(
    st.sampled_from(OFFICERS), st.sampled_from(DEVICES),
    st.integers(0, 60 * 86400),  # how long ago the footage ended
    st.integers(10, 3600),  # its duration in seconds
    st.sampled_from(["ok", "ok", "ok", "drift", "reset1970", "ahead2y", "stamp1970"]),
    st.floats(-12, 12).filter(lambda h: abs(h) >= 0.5),  # hours of drift, days since a reset (x5) …
    st.binary(min_size=1, max_size=64))


class RetentionMachine(RuleBasedStateMachine):
    env: Env  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.stack, self._close = self.run(self.env.open())
        self.stack.ctx.settings.allow_clock_override = True
        policy = self.stack.ctx.policies.retention
        self.min_days = timedelta(days=policy.min_days_after_upload)
        self.default_days = timedelta(days=policy.categories[policy.default_category].retain_days)
        self.periods = {n: c.retain_days for n, c in policy.categories.items()}
        self.offset = timedelta(0)  # simulated now = real now + offset
        self.recs: dict[str, Rec] = {}
        self.flags: dict[str, FlagM] = {}
        self.holds: dict[str, HoldM] = {}
        self.sweeps = 0
        self.sup = self.stack.auth("sgt-1", "supervisor")
        self.auditor = self.stack.auth("aud-1", "auditor")
        self.s3 = self.stack.mode == "pg_s3"

    def run(self, coro, timeout: float = 120) -> Any:
        return self.env.loop.run(coro, timeout)

    def teardown(self) -> None:
        self.run(self._close())

    # ---- model queries -------------------------------------------------------------------------

    def active(self) -> list[Rec]:
        return [r for r in self.recs.values() if r.status == "active"]

    def protected(self, r: Rec) -> bool:
        if any(f.active and f.rec == r.id and self.periods.get(f.category, 0) is None for f in self.flags.values()):
            return True
        return any(h.active and r.id in h.ids for h in self.holds.values())

    def expected_delete_after(self, r: Rec) -> datetime | None:
        if self.protected(r):
            return None
        basis = r.basis[0]
        candidates = [r.received_at + self.min_days, basis + self.default_days]
        for f in self.flags.values():
            if f.active and f.rec == r.id:
                candidates.append(max(basis, f.created_at) + timedelta(days=self.periods[f.category]))
        return max(candidates)

    def synced(self, ids) -> None:
        """After a flag/hold change the service mirrors protection onto storage legal holds."""
        if self.s3:
            for rid in ids:
                r = self.recs.get(rid)
                if r is not None and r.status == "active":
                    r.retained = r.retained or self.protected(r)
                    r.storage_locked = self.protected(r) or r.retained

    # ---- uploads -------------------------------------------------------------------------------

    async def _upload(self, officer: str, device: str, true_end: datetime, duration: timedelta, clock: str,
                      clock_param: float, payload: bytes) -> Rec:
        now = datetime.now(UTC)
        true_start = true_end - duration
        if clock == "drift":  # camera behind (positive) or ahead by hours
            err = timedelta(hours=clock_param)
            dock_clock, rec_start = now - err, true_start - err
        elif clock == "reset1970":  # flat battery: the clock restarted at 1970 some days ago
            err = now - (EPOCH + timedelta(days=abs(clock_param) * 5))
            dock_clock, rec_start = now - err, true_start - err
        elif clock == "ahead2y":
            err = timedelta(days=-730)
            dock_clock, rec_start = now - err, true_start - err
        elif clock == "stamp1970":  # right at the dock, but the footage itself is stamped 1970
            dock_clock, rec_start = now, EPOCH + timedelta(hours=abs(clock_param))
        else:
            dock_clock, rec_start = now, true_start
        data = f"{next(_unique)}:{uuid.uuid4().hex}:".encode() + payload
        before = datetime.now(UTC)
        r = await self.stack.upload(data, parts=1, officer_id=officer, device_id=device,
                                    recorded_start=iso(rec_start), recorded_end=iso(rec_start + duration),
                                    device_clock_at_dock=iso(dock_clock))
        after = datetime.now(UTC)
        assert r.status_code == 201, r.text
        body = r.json()
        rec = Rec(id=body["id"], sha256=body["sha256"], officer=officer, device=device, true_start=true_start,
                  true_end=true_end, received_at=ts(body["received_at"]), time_trust=body["time_trust"],
                  trusted_start=ts(body["trusted_start"]), trusted_end=ts(body["trusted_end"]),
                  recorded_start=ts(body["recorded_start"]), recorded_end=ts(body["recorded_end"]))
        assert before - TOL <= rec.received_at <= after + TOL
        # Rule 2: what the server trusts must be the truth, and a broken clock is never trusted as is.
        age = now - true_start
        if clock == "ok":
            assert rec.time_trust == "device", (clock, body)
        elif clock == "stamp1970":
            assert rec.time_trust == "untrusted", (clock, body)
        elif age < timedelta(days=14) - timedelta(minutes=10):
            assert rec.time_trust == "corrected", (clock, age, body)
        elif age > timedelta(days=14) + timedelta(minutes=10):
            assert rec.time_trust == "untrusted", (clock, age, body)
        if rec.time_trust == "untrusted":
            assert rec.trusted_start is None and rec.trusted_end is None
        else:
            assert abs(rec.trusted_start - true_start) <= TOL and abs(rec.trusted_end - true_end) <= TOL, body
        self.recs[rec.id] = rec
        # Query holds placed before it arrived must take it in (a camera docked late).
        async with self.stack.ctx.sessions() as s:
            covering = set((await s.execute(select(HoldRecording.hold_id)
                                            .where(HoldRecording.recording_id == rec.id))).scalars())
        for h in self.holds.values():
            if h.query is None:
                assert h.id not in covering
                continue
            if h.active and must_cover(h.query, rec):
                assert h.id in covering, f"query hold {h.id} {h.query} misses late-docked {rec}"
            if h.id in covering:
                assert h.active and may_cover(h.query, rec), f"hold {h.id} {h.query} wrongly took {rec}"
                h.ids.add(rec.id)
        if covering:  # held on arrival: the service puts the storage legal hold and COMPLIANCE retention on it
            self.synced([rec.id])
        return rec

    @initialize(batch=st.lists(UPLOAD, min_size=2, max_size=6))
    def first_uploads(self, batch):
        self.upload(batch)

    @rule(batch=st.lists(UPLOAD, min_size=1, max_size=3))
    def upload(self, batch):
        for officer, device, age_s, duration_s, clock, clock_param, payload in batch:
            true_end = datetime.now(UTC) - timedelta(seconds=age_s)
            self.run(self._upload(officer, device, true_end, timedelta(seconds=duration_s), clock, clock_param,
                                  payload))

    @precondition(lambda self: any(h.active and h.query for h in self.holds.values()))
    @rule(data=st.data(), frac=st.floats(0, 1), duration_s=st.integers(60, 600),
          clock=st.sampled_from(["ok", "drift", "reset1970", "ahead2y"]),
          clock_param=st.floats(-12, 12).filter(lambda h: abs(h) >= 0.5))
    def late_dock(self, data, frac, duration_s, clock, clock_param):
        """A camera docked after a query hold was placed, with footage from inside its window."""
        h = data.draw(st.sampled_from(sorted((h for h in self.holds.values() if h.active and h.query),
                                             key=lambda h: h.id)))
        q = h.query
        officer = q["officer"] or data.draw(st.sampled_from(OFFICERS))
        device = q["device"] or data.draw(st.sampled_from(DEVICES))
        lo, hi = q["from"] + timedelta(minutes=1), min(q["to"], datetime.now(UTC) - timedelta(minutes=1))
        true_end = lo + (hi - lo) * frac if hi > lo else hi
        self.run(self._upload(officer, device, true_end, timedelta(seconds=duration_s), clock, clock_param,
                              b"late"))

    # ---- flags ---------------------------------------------------------------------------------

    @precondition(lambda self: self.active())
    @rule(data=st.data(), category=st.sampled_from(["evidence", "complaint", "training"]), by_officer=st.booleans())
    def flag(self, data, category, by_officer):
        r = data.draw(st.sampled_from(sorted(self.active(), key=lambda r: r.id)))
        headers = self.stack.auth(r.officer, "officer") if by_officer else self.sup
        body = {"category": category, "reference": f"REF/{next(_unique)}", "reason": "stateful test"}
        if category == "training":
            body["consent_reference"] = "CONSENT/1"
        before = datetime.now(UTC)
        resp = self.run(self.stack.client.post(f"/v1/recordings/{r.id}/flags", json=body, headers=headers))
        assert resp.status_code == 201, resp.text
        f = resp.json()
        created = ts(f["created_at"])
        assert before - TOL <= created <= datetime.now(UTC) + TOL
        self.flags[f["id"]] = FlagM(id=f["id"], rec=r.id, category=category, created_at=created)
        self.synced([r.id])

    @precondition(lambda self: any(f.active for f in self.flags.values()))
    @rule(data=st.data())
    def unflag(self, data):
        f = data.draw(st.sampled_from(sorted((f for f in self.flags.values() if f.active), key=lambda f: f.id)))
        resp = self.run(self.stack.client.request("DELETE", f"/v1/flags/{f.id}", json={"reason": "no offence"},
                                                  headers=self.sup))
        if self.recs[f.rec].status == "deleted":  # a training flag can outlive its recording
            assert resp.status_code == 410, resp.text
            return
        assert resp.status_code == 200 and resp.json()["active"] is False, resp.text
        f.active = False
        self.synced([f.rec])

    @precondition(lambda self: any(r.status == "deleted" for r in self.recs.values()))
    @rule(data=st.data())
    def protect_deleted(self, data):
        """Flagging or holding deleted footage answers 410 and changes nothing (rule 4)."""
        r = data.draw(st.sampled_from(sorted((r for r in self.recs.values() if r.status == "deleted"),
                                             key=lambda r: r.id)))
        resp = self.run(self.stack.client.post(f"/v1/recordings/{r.id}/flags", json={"reference": "TOO/LATE"},
                                               headers=self.sup))
        assert resp.status_code == 410, resp.text
        others = [x.id for x in self.active()][:1]
        resp = self.run(self.stack.client.post("/v1/holds", json={
            "kind": "legal", "reference": "TOO/LATE", "reason": "r", "recording_ids": others + [r.id]},
            headers=self.sup))
        assert resp.status_code == 410, resp.text
        holds = self.run(self.stack.client.get("/v1/holds?limit=200", headers=self.sup)).json()["items"]
        assert {h["id"] for h in holds} == set(self.holds)

    # ---- holds ---------------------------------------------------------------------------------

    @precondition(lambda self: self.active())
    @rule(data=st.data(), kind=st.sampled_from(["legal", "complaint", "sar", "iopc"]))
    def hold_ids(self, data, kind):
        pool = sorted(self.active(), key=lambda r: r.id)
        chosen = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        ids = [r.id for r in chosen]
        resp = self.run(self.stack.client.post("/v1/holds", json={
            "kind": kind, "reference": f"H/{next(_unique)}", "reason": "stateful", "recording_ids": ids},
            headers=self.sup))
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert set(body["recording_ids"]) == set(ids)
        self.holds[body["id"]] = HoldM(id=body["id"], ids=set(ids))
        self.synced(ids)

    @rule(officer=st.none() | st.sampled_from(OFFICERS), device=st.none() | st.sampled_from(DEVICES),
          start_days=st.floats(0, 60), length_h=st.floats(1, 24 * 20),
          kind=st.sampled_from(["legal", "complaint", "sar", "iopc"]))
    def hold_query(self, officer, device, start_days, length_h, kind):
        frm = datetime.now(UTC) - timedelta(days=start_days)
        q = {"officer": officer, "device": device, "from": frm, "to": frm + timedelta(hours=length_h)}
        resp = self.run(self.stack.client.post("/v1/holds", json={
            "kind": kind, "reference": f"Q/{next(_unique)}", "reason": "stateful", "query": self._query(q)},
            headers=self.sup))
        assert resp.status_code == 201, resp.text
        self._placed(resp.json()["id"], q, set(resp.json()["recording_ids"]))

    @rule(officer=st.none() | st.sampled_from(OFFICERS), device=st.none() | st.sampled_from(DEVICES),
          start_days=st.floats(0, 60), length_h=st.floats(1, 24 * 31))
    def open_sar(self, officer, device, start_days, length_h):
        """A subject access request holds its window the moment it is logged, like a query hold."""
        frm = datetime.now(UTC) - timedelta(days=start_days)
        q = {"officer": officer, "device": device, "from": frm, "to": frm + timedelta(hours=length_h)}
        resp = self.run(self.stack.client.post("/v1/sars", json={
            "requester": "A. Person", "contact": "a@example.org", "received_at": iso(datetime.now(UTC)),
            "description": "stateful", "query": self._query(q)}, headers=self.stack.auth("sar-1", "sar_handler")))
        assert resp.status_code == 201, resp.text
        body = resp.json()
        self._placed(body["hold_id"], q, {c["id"] for c in body["candidates"]}, sar=body["id"])

    @precondition(lambda self: any(h.active and h.sar for h in self.holds.values()))
    @rule(data=st.data())
    def close_sar(self, data):
        h = data.draw(st.sampled_from(sorted((h for h in self.holds.values() if h.active and h.sar),
                                             key=lambda h: h.id)))
        resp = self.run(self.stack.client.post(f"/v1/sars/{h.sar}/close", json={"outcome": "disclosed"},
                                               headers=self.stack.auth("sar-1", "sar_handler")))
        assert resp.status_code == 200 and resp.json()["status"] == "closed", resp.text
        h.active = False
        self.synced(h.ids)

    @staticmethod
    def _query(q: dict[str, Any]) -> dict[str, str]:
        query = {"from": iso(q["from"]), "to": iso(q["to"])}
        if q["officer"]:
            query["officer_id"] = q["officer"]
        if q["device"]:
            query["device_id"] = q["device"]
        return query

    def _placed(self, hold_id: str, q: dict[str, Any], got: set[str], sar: str | None = None) -> None:
        live = [r for r in self.recs.values() if r.status == "active"]
        must = {r.id for r in live if must_cover(q, r)}
        may = {r.id for r in live if may_cover(q, r)}
        assert must <= got, f"query hold {q} misses {must - got}"
        assert got <= may, f"query hold {q} takes {got - may}, outside the window"
        self.holds[hold_id] = HoldM(id=hold_id, ids=got, query=q, sar=sar)
        self.synced(got)

    @precondition(lambda self: any(h.active and not h.sar for h in self.holds.values()))
    @rule(data=st.data())
    def release(self, data):
        h = data.draw(st.sampled_from(sorted((h for h in self.holds.values() if h.active and not h.sar),
                                             key=lambda h: h.id)))
        resp = self.run(self.stack.client.request("DELETE", f"/v1/holds/{h.id}", json={"reason": "settled"},
                                                  headers=self.sup))
        assert resp.status_code == 200 and resp.json()["active"] is False, resp.text
        h.active = False
        self.synced(h.ids)

    @precondition(lambda self: self.s3 and any(not self.protected(r) for r in self.active()))
    @rule(data=st.data())
    def storage_lock_lags(self, data):
        """S3 still holds a legal hold the database no longer asks for (a sync that failed): the sweep
        must be refused by storage, keep the recording, and finish."""
        r = data.draw(st.sampled_from(sorted((r for r in self.active() if not self.protected(r)),
                                             key=lambda r: r.id)))
        assert self.run(self.stack.ctx.store.set_legal_hold(r.key, True)) is True
        r.storage_locked = True

    # ---- time and sweeps -----------------------------------------------------------------------

    @rule(days=st.integers(1, 40), hours=st.integers(0, 23))
    def advance_clock(self, days, hours):
        self.offset += timedelta(days=days, hours=hours)

    @rule(days=st.sampled_from([0, 0, 1, 8, 20, 32, 40]))
    def do_sweep(self, days):
        self.offset += timedelta(days=days)
        self.run(self._sweep())

    async def _sweep(self) -> None:
        as_of = datetime.now(UTC) + self.offset
        due = {r.id for r in self.active() if (d := self.expected_delete_after(r)) is not None and d <= as_of}
        refused = {rid for rid in due if self.recs[rid].storage_locked}
        fc = await self.stack.client.get(f"/v1/retention/forecast?as_of={iso(as_of)}&limit=200", headers=self.sup)
        assert fc.status_code == 200, fc.text
        assert {i["id"] for i in fc.json()["items"]} == due, (fc.json(), due)
        report = await asyncio.wait_for(sweep(self.stack.ctx, ADMIN, as_of=as_of), 60)
        self.sweeps += 1
        deleted = {rid for rid, _ in report.items}
        assert deleted == due - refused, f"sweep as of {as_of} deleted {deleted}, expected {due - refused}"
        assert report.deleted == len(deleted) and report.refused == len(refused)
        for rid in deleted:
            self.recs[rid].status = "deleted"
        for rid in deleted:
            r = self.recs[rid]
            gone = await self.stack.client.get(f"/v1/recordings/{rid}", headers=self.sup)
            assert gone.status_code == 410, gone.text
            body = gone.json()
            assert body["id"] == rid and body["sha256"] == r.sha256 and body["deleted_at"] and body["reason"]
            assert body["policy"]
            assert await self.stack.ctx.store.head(r.key) is None
            media = await self.stack.client.get(f"/v1/recordings/{rid}/media", headers=self.sup)
            assert media.status_code == 410

    # ---- after every step ----------------------------------------------------------------------

    @invariant()
    def consistent(self):
        self.run(self._check())

    async def _check(self) -> None:
        ctx = self.stack.ctx
        async with ctx.sessions() as s:
            rows = {r.id: r for r in (await s.execute(select(Recording))).scalars()}
            deleted_events = dict((await s.execute(
                select(AuditEvent.object_id, func.count()).where(AuditEvent.action == "recording.deleted")
                .group_by(AuditEvent.object_id))).all())
        assert set(rows) == set(self.recs)
        for r in self.recs.values():
            row = rows[r.id]
            if self.protected(r):
                assert row.status != "deleted", f"protected {r.id} was deleted"
            assert row.status == r.status, (r.id, row.status, r.status)
            if r.status == "active":
                assert row.delete_after == self.expected_delete_after(r), (
                    r.id, row.delete_after, self.expected_delete_after(r), r)
                if self.protected(r):  # rule 7: nothing kept without a date or a review
                    assert row.review_at is not None or row.retain_until is not None, r.id
                assert r.id not in deleted_events
            else:
                assert deleted_events.get(r.id) == 1, (r.id, deleted_events.get(r.id))
                assert row.deleted_at is not None and row.deletion_reason
        assert set(deleted_events) <= set(self.recs)
        # Storage holds exactly the live recordings: nothing lost, nothing left behind.
        stored = {o.key for o in await ctx.store.list("recordings/")}
        assert stored == {r.key for r in self.active()}, (stored ^ {r.key for r in self.active()})
        if self.s3 and self.sweeps:
            assert not await self._s3_versions({r.key for r in self.recs.values() if r.status == "deleted"})
        v = await self.stack.client.get("/v1/audit/verify", headers=self.auditor)
        assert v.status_code == 200 and v.json()["ok"] is True, v.text

    async def _s3_versions(self, keys: set[str]) -> set[str]:
        """Deleted keys that still have any version (bytes behind a delete marker are not deleted)."""
        store = self.stack.ctx.store

        def run() -> set[str]:
            found = set()
            pages = store._client.get_paginator("list_object_versions").paginate(Bucket=store.bucket,
                                                                                 Prefix="recordings/")
            for page in pages:
                for v in page.get("Versions", []):
                    if v["Key"] in keys:
                        found.add(v["Key"])
            return found

        return await asyncio.to_thread(run)


# ---- the tests -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loop_thread():
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture(params=["embedded", "pg_s3"])
def env(request, loop_thread, tmp_path_factory) -> Env:
    if request.param == "embedded":
        return Env("embedded", loop_thread, tmp_path_factory, sqlite_template=request.getfixturevalue("sqlite_template"))
    return Env("pg_s3", loop_thread, tmp_path_factory, pg_template=request.getfixturevalue("pg_template"),
               s3_endpoint=request.getfixturevalue("s3_endpoint"))


def _run(env: Env, examples: int, steps: int) -> None:
    machine = type("Machine", (RetentionMachine,), {"env": env})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                               HealthCheck.function_scoped_fixture]))


# make test runs a few fixed-size examples on each stack (66 s and 93 s on 2 cores at 15 and 8 examples, the
# largest share of the suite after the fuzz campaign); make test-long runs 120 examples of 50 steps on each.
# Each protection change on S3 also sets and reads object-lock retention, and late in a full run moto's
# in-memory server answers slower: hence the long timeout (a timeout, not a failure).
@pytest.mark.timeout(900)
def test_retention_state_machine(env):
    _run(env, examples=8 if env.mode == "embedded" else 5, steps=25)


@pytest.mark.long
@pytest.mark.timeout(3000)
def test_retention_state_machine_long(env):
    _run(env, examples=120, steps=50)


async def test_query_hold_and_a_camera_docking_at_that_moment_see_each_other(stack, monkeypatch):
    """The interleaving the sequential machine cannot reach: the dock's completion has looked for
    query holds (none yet) and not committed when the hold looks for recordings (not there yet).
    Widened here with a pause; on PostgreSQL neither used to see the other (rule 1)."""
    from service.retention import repository as retention_repo

    looked = asyncio.Event()
    original = retention_repo.query_holds_matching

    async def slow(s, rec):
        found = await original(s, rec)
        looked.set()
        await asyncio.sleep(0.5)
        return found

    monkeypatch.setattr(retention_repo, "query_holds_matching", slow)
    now = datetime.now(UTC)
    data = f"race-{uuid.uuid4().hex}".encode() * 8
    created = await stack.client.post("/v1/uploads", json=stack.upload_meta(data, officer_id="pc-race"),
                                      headers=stack.dock)
    upload_id = created.json()["upload_id"]
    assert (await stack.client.put(f"/v1/uploads/{upload_id}/parts/1", content=data, headers=stack.dock)).status_code == 200

    async def complete() -> str:
        r = await stack.client.post(f"/v1/uploads/{upload_id}/complete", headers=stack.dock)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def hold() -> str:
        await looked.wait()
        r = await stack.client.post("/v1/holds", headers=stack.auth("sgt", "supervisor"), json={
            "kind": "iopc", "reference": "IOPC/1", "reason": "death or serious injury",
            "query": {"officer_id": "pc-race", "from": iso(now - timedelta(days=1)), "to": iso(now + timedelta(hours=1))}})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    hold_id, rec_id = await asyncio.wait_for(asyncio.gather(hold(), complete()), 60)
    async with stack.ctx.sessions() as s:
        covered = set((await s.execute(select(HoldRecording.recording_id)
                                       .where(HoldRecording.hold_id == hold_id))).scalars())
    assert rec_id in covered
    got = (await stack.client.get(f"/v1/recordings/{rec_id}", headers=stack.auth("sgt", "supervisor"))).json()
    assert got["retention"]["delete_after"] is None and [h["id"] for h in got["retention"]["holds"]] == [hold_id]
