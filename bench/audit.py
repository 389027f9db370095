"""Audit against DESIGN.md "Performance targets" ("Audit: incremental verification of a day's events in
seconds at 50 M events; signing a bundle costs < 2 % of its build") and issue 14's benchmark.

All on PostgreSQL (127.0.0.1:5432), objects on local disk, in this process (the service's own code):
  (1) append throughput: 4 concurrent writers, each event its own transaction (as requests are), for
      --append-s seconds with checkpoints off, then with a checkpoint every --interval-s (1 s: a stress
      setting; the default is 300 s) signed alongside; events/s both ways and the ratio on/off;
  (2) verification: a chain of --events events (appended with record_many in batches of 5,000, a signed
      checkpoint every --checkpoint-every events), then a full verification (every event re-hashed and
      held against every checkpoint's write-once copy), then --day more events ("a day") and an
      incremental verification from the last verified checkpoint; seconds and events/s;
  (3) bundle signing: a real 3-exhibit bundle built through the job (ffmpeg cuts, ZIP into storage); the
      signing work (a signed checkpoint of the chain + the Ed25519 signature of manifest.json) is timed
      on its own; ratio unsigned/signed = (build - signing)/build, target >= 0.98.

    .venv/bin/python bench/audit.py [--events 1000000] [--day 50000] [--append-s 20] [--report audit | --no-report]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, fresh_pg_database, machine_info, md_table, now_iso, text_table, write_report  # noqa: E402

from service.audit import service as audit  # noqa: E402
from service.audit.models import VerificationMode  # noqa: E402
from service.audit.tasks import audit_checkpoint  # noqa: E402
from service.auth.schemas import Principal  # noqa: E402
from service.db import transaction  # noqa: E402
from service.migrations import upgrade  # noqa: E402

ACTOR = Principal(sub="pc-bench", roles=frozenset({"officer"}), ip="10.0.0.1")
AUDITOR = Principal(sub="aud-bench", roles=frozenset({"auditor"}))
TARGET_SIGNING = 0.98


async def _stack(tmp: Path, db_url: str, tag: str):
    from tests.fixtures.stack import start_stack

    return await start_stack(tag, tmp / tag, database_url=db_url, policy_dir=ROOT / "policies")


async def append_throughput(tmp: Path, seconds: float, interval_s: float, checkpoints: bool) -> dict:
    with fresh_pg_database("bench_audit") as url:
        upgrade(url)
        st = await _stack(tmp, url, f"append-{int(checkpoints)}")
        try:
            stop = asyncio.Event()
            counts = [0] * 4
            made = 0

            async def writer(n: int) -> None:
                while not stop.is_set():
                    async with transaction(st.ctx.sessions) as s:
                        await audit.record(s, ACTOR, "recording.viewed", "recording", f"rec-{n}-{counts[n]}",
                                           {"n": counts[n]})
                    counts[n] += 1

            async def checkpointer() -> None:
                nonlocal made
                while not stop.is_set():
                    await asyncio.sleep(interval_s)
                    if await audit_checkpoint(st.ctx) is not None:
                        made += 1

            tasks = [asyncio.create_task(writer(n)) for n in range(4)]
            if checkpoints:
                tasks.append(asyncio.create_task(checkpointer()))
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            stop.set()
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - t0
            return {"events": sum(counts), "seconds": elapsed, "events_per_s": sum(counts) / elapsed,
                    "checkpoints": made}
        finally:
            await st.stop()


async def _bulk(st, n: int, every: int, batch: int = 5000) -> int:
    made = 0
    done = 0
    while done < n:
        k = min(batch, n - done)
        events = [("recording.viewed", "recording", f"rec-{done + i}", {"i": done + i}) for i in range(k)]
        async with transaction(st.ctx.sessions) as s:
            await audit.record_many(s, ACTOR, events)
        done += k
        if done % every < batch or done == n:
            await audit_checkpoint(st.ctx)
            made += 1
    return made


async def _verify(st, mode):
    t0 = time.perf_counter()
    async with transaction(st.ctx.sessions) as s:
        r = await audit.verify_as(s, AUDITOR, st.ctx.signer, st.ctx.store, mode=mode)
    assert r.ok, r
    return r, time.perf_counter() - t0


async def verification(tmp: Path, events: int, day: int, every: int) -> dict:
    with fresh_pg_database("bench_audit") as url:
        upgrade(url)
        st = await _stack(tmp, url, "verify")
        try:
            t0 = time.perf_counter()
            cps = await _bulk(st, events, every)
            load_s = time.perf_counter() - t0
            full, full_s = await _verify(st, VerificationMode.FULL)
            await _bulk(st, day, every)
            inc, inc_s = await _verify(st, VerificationMode.INCREMENTAL)
            return {"events": events, "checkpoints": cps, "load_s": load_s, "full_s": full_s,
                    "full_events_per_s": full.events / full_s, "full_events_read": full.events,
                    "day": day, "incremental_s": inc_s, "incremental_events_read": inc.events,
                    "incremental_from_seq": inc.from_seq}
        finally:
            await st.stop()


async def bundle_signing(tmp: Path) -> dict:
    from service.signing.keys import Signer  # noqa: F401 - the signer the stack loaded
    from tests.helpers import case_with_exhibits

    with fresh_pg_database("bench_audit") as url:
        upgrade(url)
        st = await _stack(tmp, url, "bundle")
        try:
            dis, cid, _, _ = await case_with_exhibits(st, "bench")
            builds, signing = [], []
            for _ in range(3):
                t0 = time.perf_counter()
                r = await st.client.post(f"/v1/cases/{cid}/bundles", headers=dis)
                await st.drain_jobs()
                builds.append(time.perf_counter() - t0)
                bid = r.json()["bundle_id"]
                data = (await st.client.get(f"/v1/bundles/{bid}/download", headers=dis)).content
                import io
                import zipfile
                manifest = zipfile.ZipFile(io.BytesIO(data)).read("manifest.json")
                # The signing work of a build, on its own: a checkpoint of the (moved) head and the signature.
                async with transaction(st.ctx.sessions) as s:
                    await audit.record(s, ACTOR, "recording.viewed", "recording", "rec-x", {})
                t0 = time.perf_counter()
                await audit_checkpoint(st.ctx)
                st.ctx.signer.sign(manifest)
                signing.append(time.perf_counter() - t0)
            build, sign = min(builds), min(signing)
            return {"build_s": build, "signing_s": sign, "unsigned_s": build - sign,
                    "ratio_unsigned_over_signed": (build - sign) / build, "builds": builds, "signing": signing}
        finally:
            await st.stop()


async def main(args) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bwv-bench-audit-"))
    out: dict = {"at": now_iso(), "machine": machine_info(), "args": vars(args)}
    if args.append_s > 0:
        out["append_off"] = await append_throughput(tmp, args.append_s, args.interval_s, False)
        out["append_on"] = await append_throughput(tmp, args.append_s, args.interval_s, True)
        print(text_table(["checkpoints", "events", "events/s", "checkpoints made"],
                         [["off", out["append_off"]["events"], out["append_off"]["events_per_s"], 0],
                          [f"every {args.interval_s} s", out["append_on"]["events"], out["append_on"]["events_per_s"],
                           out["append_on"]["checkpoints"]]]), flush=True)
    if not args.skip_bundle:
        b = out["bundle"] = await bundle_signing(tmp)
        print(text_table(["build s", "signing s", "unsigned/signed", "target"],
                         [[b["build_s"], b["signing_s"], round(b["ratio_unsigned_over_signed"], 4), TARGET_SIGNING]]),
              flush=True)
    if args.report:  # each part as it finishes: the verification of a large chain takes long
        write_report(args.report, _markdown(out), out)
    if args.events > 0:
        v = out["verify"] = await verification(tmp, args.events, args.day, args.checkpoint_every)
        print(text_table(["events", "full s", "full ev/s", "day", "incremental s", "incremental events read"],
                         [[v["events"], v["full_s"], v["full_events_per_s"], v["day"], v["incremental_s"],
                           v["incremental_events_read"]]]), flush=True)
    if args.report:
        write_report(args.report, _markdown(out), out)
    return 0 if "bundle" not in out or out["bundle"]["ratio_unsigned_over_signed"] >= TARGET_SIGNING else 1


def _markdown(out: dict) -> str:
    lines = [f"# Audit benchmark ({out['at']})", "", f"Machine: {out['machine']}", "",
             "Issue 14: signed checkpoints, verification an insider cannot fool, signed bundles. PostgreSQL, "
             "objects on local disk, the service's code in one process (bench/audit.py).", ""]
    if "append_off" in out:
        a, b = out["append_off"], out["append_on"]
        lines += ["## Append throughput (4 concurrent writers, one transaction per event)", "",
                  md_table(["checkpoints", "events", "events/s", "checkpoints made"],
                           [["off", a["events"], a["events_per_s"], 0],
                            [f"every {out['args']['interval_s']} s", b["events"], b["events_per_s"], b["checkpoints"]]]),
                  "", f"on/off = {b['events_per_s'] / a['events_per_s']:.2f} (the default interval is 300 s, so "
                      "production pays this once every five minutes, not every second).", ""]
    if "verify" in out:
        v = out["verify"]
        lines += ["## Verification", "",
                  md_table(["events", "checkpoints", "full s", "full events/s", "a day's events", "incremental s",
                            "events read"],
                           [[v["events"], v["checkpoints"], f"{v['full_s']:.1f}", round(v["full_events_per_s"]),
                             v["day"], f"{v['incremental_s']:.1f}", v["incremental_events_read"]]]),
                  "", "Incremental runs start at the checkpoint the last successful run reached and read only what "
                      "came after: their time grows with a day's events, not with the log.", ""]
    if "bundle" in out:
        b = out["bundle"]
        lines += ["## Bundle signing", "",
                  md_table(["build s (signed, best of 3)", "signing work s", "unsigned/signed", "target"],
                           [[f"{b['build_s']:.2f}", f"{b['signing_s']:.3f}", f"{b['ratio_unsigned_over_signed']:.3f}",
                             f">= {TARGET_SIGNING}"]]),
                  "", "The signing work of a build: a signed checkpoint of the chain (database row + write-once copy) "
                      "and the Ed25519 signature of manifest.json; timed on its own after each build.", ""]
    return "\n".join(lines)


def rewrite(name: str = "audit") -> None:
    """Re-render bench/reports/<name>.md from its JSON (after the report's layout changed)."""
    import json

    from common import REPORTS

    data = json.loads((REPORTS / f"{name}.json").read_text())
    write_report(name, _markdown(data), data)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--day", type=int, default=50_000)
    p.add_argument("--checkpoint-every", type=int, default=50_000)
    p.add_argument("--append-s", type=float, default=20)
    p.add_argument("--interval-s", type=float, default=1.0)
    p.add_argument("--skip-bundle", action="store_true")
    p.add_argument("--report", default="audit")
    p.add_argument("--no-report", dest="report", action="store_const", const=None)
    sys.exit(asyncio.run(main(p.parse_args())))
