"""Retention lifecycle (issue 15): what keeping every kept recording's date and review current costs.

1. Load: a fresh PostgreSQL database, migrated, N recordings bulk-inserted, every one flagged as
   evidence (the worst case: each needs a pending review), half of them exhibits of decided cases.
2. Recompute: ``retention.service.recompute_batch`` over all of them in batches of 1,000, as the policy
   recompute job runs it: the first pass creates every review, the second is the steady state. The ratio
   is against the plain retention decision (rules.delete_after only, measured by the same loop with
   ``kept.sync`` stubbed out) — what the lifecycle adds to a recompute.
3. The review queue: ``GET /v1/retention/reviews?due=true``'s query (first page of 50) with N pending.
4. The worked CPIA example (convicted 2025-10-28, released from custody 2026-05-16, a late appeal to
   2027-12-02, then abandoned) through ``rules.outcome_dates``; the integration test
   ``test_worked_cpia_example…`` runs it end to end through the API on both stacks.

    .venv/bin/python bench/lifecycle.py [--recordings 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import structlog  # noqa: E402
from common import ROOT, fresh_pg_database, machine_info, md_table, now_iso, write_report  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from service.auth.schemas import Principal  # noqa: E402
from service.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from service.disclosure.models import Case, CaseItem, CaseOutcome  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.paging import page_params  # noqa: E402
from service.policies import load_policies  # noqa: E402
from service.recordings.models import Recording  # noqa: E402
from service.retention import kept, rules  # noqa: E402
from service.retention import repository as repo  # noqa: E402
from service.retention import service as retention  # noqa: E402
from service.retention.models import Flag, Hold  # noqa: E402

POLICY = load_policies(ROOT / "policies").retention
SUP = Principal(sub="bench-sup", roles=frozenset({"supervisor"}))


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


async def load(sessions, n: int) -> None:
    now = datetime.now(UTC)
    cases = max(1, n // 200)
    async with transaction(sessions) as s:
        await s.execute(insert(Hold), [{"id": f"hld_b{c}", "kind": "case", "reference": f"B{c}", "reason": "bench",
                                        "created_by": "bench", "created_at": now, "released_at": now,
                                        "released_by": "bench"} for c in range(cases)])
        await s.execute(insert(Case), [{"id": f"case_b{c}", "urn": f"B{c}", "title": "bench", "status": "closed",
                                        "hold_id": f"hld_b{c}", "created_by": "bench", "created_at": now}
                                       for c in range(cases)])
        await s.execute(insert(CaseOutcome), [{"id": f"out_b{c}", "case_id": f"case_b{c}", "outcome": "convicted",
                                               "decided_at": now - timedelta(days=30 * (c % 12)),
                                               "recorded_by": "bench", "recorded_at": now} for c in range(cases)])
    for lo in range(0, n, 5000):
        rows, flags, items = [], [], []
        for i in range(lo, min(n, lo + 5000)):
            t = now - timedelta(minutes=i)
            rows.append({"id": f"rec_b{i:08d}", "device_id": f"cam-{i % 500}", "officer_id": f"pc-{i % 2000}",
                         "dock_id": "d", "upload_id": f"up{i}", "filename": "f.mp4", "content_type": "video/mp4",
                         "size_bytes": 1000, "sha256": f"{i:064x}", "storage_key": f"k/{i}", "received_at": t,
                         "recorded_start": t, "recorded_end": t, "device_clock_at_dock": t, "drift_s": 0.0,
                         "time_trust": "device", "basis_start": t, "basis_end": t, "media_status": "ready",
                         "status": "active", "retention_category": "evidence", "restricted": False})
            case = f"case_b{i % cases}" if i % 2 == 0 else None
            flags.append({"id": f"flg_b{i}", "recording_id": f"rec_b{i:08d}", "category": "evidence",
                          "reference": "R", "created_by": "bench", "created_at": t,
                          "source": f"case:{case}" if case else None})
            if case:
                items.append({"id": f"itm_b{i}", "case_id": case, "recording_id": f"rec_b{i:08d}",
                              "exhibit_ref": f"X/{i}", "accurate": False, "flag_id": f"flg_b{i}",
                              "added_by": "bench", "added_at": t})
        async with transaction(sessions) as s:
            await s.execute(insert(Recording), rows)
            await s.execute(insert(Flag), flags)
            await s.execute(insert(CaseItem), items)


class _Ctx:
    def __init__(self, policies):
        self.policies = policies


async def recompute(sessions, policies) -> float:
    t0, after = time.perf_counter(), None
    while True:
        async with transaction(sessions) as s:
            ids = await retention.recompute_batch(s, _Ctx(policies), after, 1000)
        if not ids:
            return time.perf_counter() - t0
        after = ids[-1]


async def main(n: int) -> None:
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    policies = load_policies(ROOT / "policies")
    results: dict[str, float] = {}
    with fresh_pg_database("lifecycle") as url:
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        say(f"loading {n:,} flagged recordings")
        await load(sessions, n)
        real_sync = kept.sync

        async def no_sync(*a, **k):
            return {}

        kept.sync = no_sync
        results["decide_only"] = await recompute(sessions, policies)
        kept.sync = real_sync
        say(f"rules only: {results['decide_only']:.2f} s")
        results["first"] = await recompute(sessions, policies)
        say(f"with reviews, first pass: {results['first']:.2f} s")
        results["steady"] = await recompute(sessions, policies)
        say(f"with reviews, steady: {results['steady']:.2f} s")
        async with sessions() as s:
            t0 = time.perf_counter()
            for _ in range(5):
                page = await repo.review_page(s, viewer=SUP, due_before=datetime.now(UTC), status="pending",
                                              after=None, limit=page_params(limit=50).limit + 1)
            results["queue_page"] = (time.perf_counter() - t0) / 5
            counts = await repo.review_counts(s, datetime.now(UTC), datetime.now(UTC) - timedelta(days=14))
        await engine.dispose()
    say(f"queue page: {results['queue_page'] * 1000:.1f} ms ({len(page)} rows); counts {counts}")

    decided, release, appeal = (datetime(2025, 10, 28, tzinfo=UTC), datetime(2026, 5, 16, tzinfo=UTC),
                                datetime(2027, 12, 2, tzinfo=UTC))
    steps = [("convicted 2025-10-28, custody release 2026-05-16", None),
             ("late appeal lodged, pending until 2027-12-02", appeal),
             ("appeal abandoned (corrected outcome without appeal_until)", None)]
    example = []
    for label, appeal_until in steps:
        until, review = rules.outcome_dates(POLICY, "convicted", decided_at=decided, custody_release_at=release,
                                            appeal_until=appeal_until)
        example.append([label, until.date().isoformat(), review.date().isoformat()])
    released = datetime(2026, 12, 3, tzinfo=UTC)
    example.append(["review released 2026-12-03", "—",
                    f"delete_after {rules.released_floor(POLICY, released).date().isoformat()} (release + "
                    f"{POLICY.min_days_after_upload} days); the next sweep after it deletes"])

    mi = machine_info()
    per_rec = lambda t: n / t if t else 0  # noqa: E731
    rows = [
        ["recompute, rules only (baseline)", f"{results['decide_only']:.2f} s", f"{per_rec(results['decide_only']):,.0f} rec/s", "1.00"],
        ["recompute + reviews, first pass (creates N reviews)", f"{results['first']:.2f} s",
         f"{per_rec(results['first']):,.0f} rec/s", f"{results['first'] / results['decide_only']:.2f}"],
        ["recompute + reviews, steady state", f"{results['steady']:.2f} s", f"{per_rec(results['steady']):,.0f} rec/s",
         f"{results['steady'] / results['decide_only']:.2f}"],
        ["review queue, first page of 50 due", f"{results['queue_page'] * 1000:.1f} ms", f"{counts['pending']:,} pending", ""],
    ]
    md = (f"# Retention lifecycle benchmark ({now_iso()})\n\n"
          f"Machine: {mi['cpu']}, nproc {mi['nproc']}, RAM {mi['ram_gib']} GiB, Python {mi['python']} "
          f"(the host is shared with other work).\n\nN = {n:,} recordings, all flagged as evidence, half exhibits of "
          f"{max(1, n // 200):,} decided cases. Command: `.venv/bin/python bench/lifecycle.py --recordings {n}`\n\n"
          + md_table(["measure", "time", "rate", "ratio vs rules only"], rows)
          + "\n\n## Worked CPIA example\n\n"
          + md_table(["step", "retain_until", "review_at / what follows"], example)
          + "\n\nSix months after 2025-10-28 is 2026-04-28; the custody release (2026-05-16) is later, so it wins. "
            "The integration test `test_worked_cpia_example_conviction_appeal_abandoned_release_and_sweep` runs "
            "this through the API on both stacks: 409 `retain-until-not-reached` while the appeal is pending, the "
            "review overdue and alerted (one alert, counted), nothing deleted at +400 days, then released and "
            "deleted by the sweep 8 days later, not at 6.\n")
    paths = write_report("lifecycle", md, {"n": n, "results": results, "counts": counts, "example": example})
    print(md)
    say(f"wrote {paths[0]}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=20000)
    asyncio.run(main(ap.parse_args().recordings))
