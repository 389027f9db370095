"""The retention lifecycle as a state machine (DESIGN.md rule 7, issue 15): random sequences of flags,
holds, cases with exhibits, outcomes and their corrections (appeals lodged and abandoned), review
decisions and sweeps at later and later instants, through the HTTP API.

After every step, whatever happened: every active recording kept by a flag or hold has a retain_until or
a review_at; nothing flagged or held is deleted; nothing is deleted before its retain_until; a released
review never leaves delete_after sooner than the policy's minimum days after the release; releasing
before retain_until is refused (409) and changes nothing.

The default run is small (a few examples on the embedded stack, for the rules' wiring); ``make test-long``
runs many more, on both stacks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from service.retention.sweep import sweep
from tests.fixtures.loop import Env, LoopThread
from tests.helpers import ADMIN, iso

OUTCOMES = ["convicted", "acquitted", "no_further_action", "discontinued", "other"]


def ts(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v.replace("Z", "+00:00"))


class LifecycleMachine(RuleBasedStateMachine):
    env: Env

    def __init__(self) -> None:
        super().__init__()
        self.stack, self._close = self.env.loop.run(self.env.open())
        self.stack.ctx.settings.allow_clock_override = True
        self.sup = self.stack.auth("sup", "supervisor")
        self.dis = self.stack.auth("dc", "disclosure")
        self.recs: list[str] = []
        self.cases: list[str] = []
        self.offset = timedelta(0)
        self.n = 0

    def teardown(self) -> None:
        self.env.loop.run(self._close())

    def run(self, coro):
        return self.env.loop.run(coro)

    async def _get(self, rid: str) -> dict:
        r = await self.stack.client.get(f"/v1/recordings/{rid}", headers=self.sup)
        assert r.status_code in (200, 410), r.text
        return r.json()

    # ---- rules ---------------------------------------------------------------------------------

    @rule(days_ago=st.integers(0, 400))
    def new_recording(self, days_ago):
        self.n += 1
        start = datetime.now(UTC) - timedelta(days=days_ago)

        async def go():
            r = await self.stack.upload(f"lc-{self.n}-".encode() * 500, parts=1, device_id=f"cam-lc-{self.n}",
                                        recorded_start=iso(start), recorded_end=iso(start + timedelta(minutes=5)))
            assert r.status_code == 201, r.text
            return r.json()["id"]
        self.recs.append(self.run(go()))

    @precondition(lambda self: self.recs)
    @rule(i=st.integers(0, 100), category=st.sampled_from(["evidence", "complaint", "training"]))
    def flag(self, i, category):
        rid = self.recs[i % len(self.recs)]
        body = {"category": category, "reference": "REF/1"}
        if category == "training":
            body["consent_reference"] = "CONSENT/1"
        r = self.run(self.stack.client.post(f"/v1/recordings/{rid}/flags", json=body, headers=self.sup))
        assert r.status_code in (201, 410), r.text

    @precondition(lambda self: self.recs)
    @rule(i=st.integers(0, 100))
    def hold(self, i):
        rid = self.recs[i % len(self.recs)]
        r = self.run(self.stack.client.post("/v1/holds", headers=self.sup, json={
            "kind": "legal", "reference": "LH", "reason": "r", "recording_ids": [rid]}))
        assert r.status_code in (201, 410), r.text

    @precondition(lambda self: self.recs)
    @rule(i=st.integers(0, 100), j=st.integers(0, 100))
    def case_with_exhibits(self, i, j):
        async def go():
            self.n += 1
            c = await self.stack.client.post("/v1/cases", json={"urn": f"LC{self.n}", "title": "t"}, headers=self.dis)
            assert c.status_code == 201, c.text
            cid = c.json()["id"]
            for k, rid in enumerate(dict.fromkeys([self.recs[i % len(self.recs)], self.recs[j % len(self.recs)]])):
                r = await self.stack.client.post(f"/v1/cases/{cid}/items", headers=self.dis,
                                                 json={"recording_id": rid, "exhibit_ref": f"E/{k}"})
                assert r.status_code in (201, 410), r.text
            return cid
        self.cases.append(self.run(go()))

    @precondition(lambda self: self.cases)
    @rule(i=st.integers(0, 100), outcome=st.sampled_from(OUTCOMES), decided_days_ago=st.integers(0, 900),
          custody_days=st.none() | st.integers(0, 900), appeal_days=st.none() | st.integers(0, 1200))
    def outcome(self, i, outcome, decided_days_ago, custody_days, appeal_days):
        decided = datetime.now(UTC) - timedelta(days=decided_days_ago)
        body = {"outcome": outcome, "decided_at": iso(decided), "reason": "r"}
        if custody_days is not None and outcome == "convicted":
            body["custody_release_at"] = iso(decided + timedelta(days=custody_days))
        if appeal_days is not None:
            body["appeal_until"] = iso(decided + timedelta(days=appeal_days))
        r = self.run(self.stack.client.post(f"/v1/cases/{self.cases[i % len(self.cases)]}/outcome", json=body,
                                            headers=self.dis))
        assert r.status_code == 200, r.text

    @precondition(lambda self: self.recs)
    @rule(i=st.integers(0, 100), release=st.booleans(), days=st.integers(1, 400))
    def decide(self, i, release, days):
        async def go():
            rec = await self._get(self.recs[i % len(self.recs)])
            if rec.get("status") != "active" or not rec["retention"]["kept_by"]:
                return
            k = rec["retention"]["kept_by"][0]
            body = {"decision": "release", "reason": "r"} if release else \
                {"decision": "retain", "reason": "r", "retain_days": days}
            before = datetime.now(UTC)
            r = await self.stack.client.post(f"/v1/retention/reviews/{k['review_id']}/decision", json=body,
                                             headers=self.sup)
            until = ts(rec["retention"]["retain_until"])
            if release and until is not None and until > before + timedelta(seconds=5):
                assert r.status_code == 409 and r.json()["type"].endswith("/retain-until-not-reached"), r.text
                assert (await self._get(rec["id"]))["retention"]["kept_by"] == rec["retention"]["kept_by"]
                return
            if release and until is not None and until > before - timedelta(seconds=5):
                return  # on the boundary: either answer is right
            assert r.status_code == 200, r.text
            after = await self._get(rec["id"])
            if release and after["retention"]["delete_after"] is not None:
                floor = before + timedelta(days=self.stack.ctx.policies.retention.min_days_after_upload)
                assert ts(after["retention"]["delete_after"]) >= floor - timedelta(seconds=5)
        self.run(go())

    @rule(days=st.sampled_from([0, 8, 40, 200, 800]))
    def do_sweep(self, days):
        self.offset += timedelta(days=days)

        async def go():
            as_of = datetime.now(UTC) + self.offset
            before = {rid: await self._get(rid) for rid in self.recs}
            report = await sweep(self.stack.ctx, ADMIN, as_of=as_of)
            for rid, _ in report.items:
                ret = before[rid]["retention"]
                assert not ret["holds"] and not [f for f in ret["flags"] if f["category"] != "training"], rid
                assert ret["retain_until"] is None or ts(ret["retain_until"]) <= as_of, (rid, ret)
        self.run(go())

    # ---- after every step ----------------------------------------------------------------------

    @invariant()
    def nothing_kept_without_a_date(self):
        async def go():
            for rid in self.recs:
                rec = await self._get(rid)
                if rec.get("status") != "active":
                    continue
                ret = rec["retention"]
                kept = ret["holds"] or [f for f in ret["flags"] if f["category"] in ("evidence", "complaint")]
                if kept:
                    assert ret["review_at"] or ret["retain_until"], (rid, ret)
                    assert ret["delete_after"] is None
                if ret["retain_until"] and ret["delete_after"]:
                    assert ts(ret["delete_after"]) >= ts(ret["retain_until"]), (rid, ret)
        self.run(go())


@pytest.fixture(scope="module")
def loop_thread():
    lt = LoopThread()
    yield lt
    lt.close()


def _run(env: Env, examples: int, steps: int) -> None:
    machine = type("Machine", (LifecycleMachine,), {"env": env})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                               HealthCheck.function_scoped_fixture]))


def test_lifecycle_state_machine_small(loop_thread, tmp_path_factory, sqlite_template):
    _run(Env("embedded", loop_thread, tmp_path_factory, sqlite_template=sqlite_template), examples=3, steps=12)


@pytest.mark.long
@pytest.mark.timeout(3000)
@pytest.mark.parametrize("mode", ["embedded", "pg_s3"])
def test_lifecycle_state_machine_long(mode, request, loop_thread, tmp_path_factory):
    if mode == "embedded":
        env = Env(mode, loop_thread, tmp_path_factory, sqlite_template=request.getfixturevalue("sqlite_template"))
    else:
        env = Env(mode, loop_thread, tmp_path_factory, pg_template=request.getfixturevalue("pg_template"),
                  s3_endpoint=request.getfixturevalue("s3_endpoint"))
    _run(env, examples=60, steps=40)
