"""Scale-out: two `bwv serve` replicas and two `bwv worker` processes on one PostgreSQL, Redis and S3 bucket,
driven by docks that behave like real ones (parts in flight, retries, resumes, the next replica on any
failure). What must hold whatever replica a request lands on, and whichever process dies mid-load: every
accepted upload becomes exactly one recording whose bytes hash right, each job runs once, a sweep on two
workers deletes each recording once, revocation holds everywhere at once, and the audit chain stays linear."""

from __future__ import annotations

import asyncio
import hashlib
import random
import subprocess
import time
from collections import Counter

import httpx
import pytest

from service.auth import service as auth
from tests.fixtures.dock import Dock, meta
from tests.fixtures.replicas import Fleet
from tests.fixtures.s3 import s3_client
from tests.helpers import ADMIN, bin_path

pytestmark = pytest.mark.usefixtures("services_up")

MiB = 1024 * 1024


def blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


async def check_recordings(fleet: Fleet, expected: dict[str, bytes]) -> list[dict]:
    """Every expected (device, bytes) is exactly one recording, and storage holds exactly those bytes."""
    rows = await fleet.sql("SELECT id, device_id, sha256, size_bytes, storage_key, upload_id FROM recordings "
                           "WHERE device_id = ANY($1::text[])", list(expected))
    per_device = Counter(r["device_id"] for r in rows)
    assert per_device == Counter(dict.fromkeys(expected, 1)), per_device  # none lost, none twice
    for r in rows:
        data = expected[r["device_id"]]
        assert (r["sha256"], r["size_bytes"]) == (hashlib.sha256(data).hexdigest(), len(data))
        assert hashlib.sha256(fleet.read_object(r["storage_key"])).hexdigest() == r["sha256"]
    uploads = await fleet.sql("SELECT device_id, status, recording_id FROM uploads WHERE device_id = ANY($1::text[])",
                              list(expected))
    by_id = {r["id"]: r for r in rows}
    for u in uploads:  # an upload a dock gave up on never shows as completed elsewhere
        if u["status"] == "completed":
            assert u["recording_id"] in by_id
    return [dict(r) for r in rows]


async def run_docks(fleet: Fleet, docks: list[Dock], work: list[list[tuple[str, bytes]]]) -> list[dict]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:

        async def one(dock: Dock, items: list[tuple[str, bytes]]) -> list[dict]:
            return [await dock.upload(client, data, meta(data, device)) for device, data in items]

        results = await asyncio.gather(*(one(d, w) for d, w in zip(docks, work, strict=True)))
    return [r for rs in results for r in rs]


async def test_uploads_spread_over_both_replicas_each_become_one_recording(fleet):
    fleet.ensure_up()
    headers = await fleet.dock_tokens("dock-spread-a", "dock-spread-b")
    docks = [Dock(fleet.all_urls, h, part_size=MiB // 2, parallel=3) for h in headers]
    work = [[(f"cam-spread-{d}-{i}", blob(d * 100 + i, 2 * MiB + 1234 * i)) for i in range(3)] for d in range(2)]
    await run_docks(fleet, docks, work)
    used = Counter(s.url for d in docks for s in d.sent if s.op == "part")
    assert set(used) == set(fleet.all_urls()), used  # both replicas took parts
    await check_recordings(fleet, {dev: data for w in work for dev, data in w})
    leftovers = [k for k in fleet.objects() if k.startswith("uploads/")]
    assert leftovers == []  # staged parts are purged whichever replica completed


async def test_upload_started_on_one_replica_completes_on_the_other(fleet):
    fleet.ensure_up()
    (h,) = await fleet.dock_tokens("dock-resume")
    a, b = fleet.all_urls()
    data = blob(7, 6 * MiB + 17)
    body = meta(data, "cam-resume")
    bounds = [(0, 3 * MiB), (3 * MiB, 6 * MiB), (6 * MiB, len(data))]
    async with httpx.AsyncClient(timeout=60, headers=h) as c:
        r = await c.post(f"{a}/v1/uploads", json=body)
        assert r.status_code == 201, r.text
        up = r.json()["upload_id"]
        assert (await c.put(f"{a}/v1/uploads/{up}/parts/1", content=data[:3 * MiB])).status_code == 200
        # The dock loses replica A, asks B for the same upload: B resumes it and knows part 1.
        again = await c.post(f"{b}/v1/uploads", json=body)
        assert again.status_code == 200 and again.json()["upload_id"] == up
        assert again.json()["parts"] == [{"n": 1, "size": 3 * MiB}]
        for n in (3, 2):
            lo, hi = bounds[n - 1]
            assert (await c.put(f"{b}/v1/uploads/{up}/parts/{n}", content=data[lo:hi])).status_code == 200
        done = await c.post(f"{b}/v1/uploads/{up}/complete")
        assert done.status_code == 201, done.text
        assert done.json()["sha256"] == hashlib.sha256(data).hexdigest()
        # A retry on A sees the same recording; the file again from the camera is a duplicate.
        retry = await c.post(f"{a}/v1/uploads/{up}/complete")
        assert retry.status_code == 200 and retry.json()["id"] == done.json()["id"]
        dup = await c.post(f"{a}/v1/uploads", json=body)
        assert dup.status_code == 200 and dup.json()["recording_id"] == done.json()["id"]
    await check_recordings(fleet, {"cam-resume": data})


async def test_the_same_complete_on_two_replicas_at_once_keeps_one_recording(fleet):
    """A dock whose complete timed out asks the other replica while the first still assembles. The second
    used to discard the first's half-built object as a crash's leftover; the first then recorded a
    recording with no bytes. Now one assembles and the other answers 409 complete-in-progress."""
    fleet.ensure_up()
    (h,) = await fleet.dock_tokens("dock-race")
    a, b = fleet.all_urls()
    expected = {}
    async with httpx.AsyncClient(timeout=120, headers=h) as c:
        for round_ in range(3):
            data = blob(900 + round_, 12 * MiB)
            expected[f"cam-race-{round_}"] = data
            r = await c.post(f"{a}/v1/uploads", json=meta(data, f"cam-race-{round_}"))
            up = r.json()["upload_id"]
            # Parts in reverse, small: no running hash, complete must read every byte back (a slow complete).
            for n in range(6, 0, -1):
                lo, hi = (n - 1) * 2 * MiB, min(n * 2 * MiB, len(data))
                assert (await c.put(f"{(a, b)[n % 2]}/v1/uploads/{up}/parts/{n}", content=data[lo:hi])).status_code == 200
            answers = await asyncio.gather(c.post(f"{a}/v1/uploads/{up}/complete"),
                                           c.post(f"{b}/v1/uploads/{up}/complete"))
            codes = sorted(x.status_code for x in answers)
            assert codes in ([200, 201], [201, 409]), [x.text for x in answers]
            for x in answers:
                if x.status_code == 409:
                    assert x.json()["type"].endswith("/complete-in-progress") and x.headers["Retry-After"]
            rec = next(x.json() for x in answers if x.status_code == 201)
            later = await c.post(f"{b}/v1/uploads/{up}/complete")
            assert later.status_code == 200 and later.json()["id"] == rec["id"]
    await check_recordings(fleet, expected)


def abort_assembly(fleet: Fleet, assembly_id: str) -> None:
    """What a bucket's AbortIncompleteMultipartUpload rule, or a complete that died after finishing and
    removing a temporary assembly, leaves: the multipart upload gone, no object in its place."""
    client = s3_client(fleet.endpoint)
    try:
        uploads = client.list_multipart_uploads(Bucket=fleet.bucket).get("Uploads", [])
        (key,) = [u["Key"] for u in uploads if u["UploadId"] == assembly_id]
        client.abort_multipart_upload(Bucket=fleet.bucket, Key=key, UploadId=assembly_id)
    finally:
        client.close()


async def test_a_lost_assembly_makes_the_dock_resend_instead_of_failing_for_ever(fleet):
    """Parts of 5 MiB and more go straight into one S3 multipart upload. When that is gone (finished by a
    replica that died before committing, or aborted by a bucket rule), every part and every complete used to
    fail with 500 for ever and the dock gave up. Now the upload starts a fresh assembly and the dock re-sends."""
    fleet.ensure_up()
    (h,) = await fleet.dock_tokens("dock-lost-assembly")
    a, b = fleet.all_urls()
    datas = {f"cam-lost-{i}": blob(600 + i, 11 * MiB) for i in range(2)}
    bounds = [(0, 5 * MiB), (5 * MiB, 10 * MiB), (10 * MiB, 11 * MiB)]
    async with httpx.AsyncClient(timeout=120, headers=h) as c:
        for i, (device, data) in enumerate(datas.items()):
            up = (await c.post(f"{a}/v1/uploads", json=meta(data, device))).json()["upload_id"]
            for n, (lo, hi) in enumerate(bounds, 1):
                assert (await c.put(f"{a}/v1/uploads/{up}/parts/{n}", content=data[lo:hi])).status_code == 200
            (row,) = await fleet.sql("SELECT assembly_id FROM uploads WHERE id = $1", up)
            abort_assembly(fleet, row["assembly_id"])
            if i == 0:  # the dock completes: told the parts changed, it sends them all again
                r = await c.post(f"{b}/v1/uploads/{up}/complete")
                assert r.status_code == 409 and r.json()["type"].endswith("/parts-changed"), r.text
                todo = [1, 2, 3]
            else:  # the dock re-sends a part (it never heard back): it lands in a fresh assembly
                r = await c.put(f"{b}/v1/uploads/{up}/parts/1", content=data[:5 * MiB])
                assert r.status_code == 200, r.text
                r = await c.post(f"{a}/v1/uploads/{up}/complete")
                assert r.status_code == 409 and r.json()["missing_parts"] == [2], r.text
                todo = [2]
            for n in todo:
                lo, hi = bounds[n - 1]
                assert (await c.put(f"{b}/v1/uploads/{up}/parts/{n}", content=data[lo:hi])).status_code == 200
            done = await c.post(f"{a}/v1/uploads/{up}/complete")
            assert done.status_code == 201, done.text
    await check_recordings(fleet, datas)


async def test_a_replica_killed_mid_load_loses_and_duplicates_nothing(fleet):
    fleet.ensure_up()
    n_docks = 4
    headers = await fleet.dock_tokens(*(f"dock-kill-{d}" for d in range(n_docks)))
    # Half the docks send 5 MiB parts (they go straight into S3 multipart assemblies), half 1 MiB (staged).
    docks = [Dock(fleet.all_urls, h, part_size=(5 * MiB if d % 2 else MiB), parallel=3, backoff_cap=1.0)
             for d, h in enumerate(headers)]
    work = [[(f"cam-kill-{d}-{i}", blob(5000 + d * 10 + i, random.Random(d * 10 + i).randrange(3 * MiB, 9 * MiB)))
             for i in range(2)] for d in range(n_docks)]
    load = asyncio.create_task(run_docks(fleet, docks, work))
    deadline = time.monotonic() + 60
    while sum(1 for d in docks for s in d.sent if s.op == "part") < 4 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert not load.done(), "the load finished before the kill; use more docks"
    fleet.servers[0].kill()  # SIGKILL: parts and completes in flight on it die with it
    await asyncio.sleep(2)
    fleet.restart_server(0)  # back on its address, as a pod restarted behind its Service
    await asyncio.wait_for(load, 600)
    failures = Counter(k for d in docks for k in d.errors)
    assert any(k.split(":")[1] in ("ConnectError", "RemoteProtocolError", "ReadError") for k in failures), failures
    await check_recordings(fleet, {dev: data for w in work for dev, data in w})


async def test_a_worker_killed_mid_load_still_runs_every_job_once(fleet):
    fleet.ensure_up()
    headers = await fleet.dock_tokens("dock-jobs")
    docks = [Dock(fleet.all_urls, headers[0], part_size=MiB, parallel=2)]
    work = [[(f"cam-jobs-{i}", blob(7000 + i, MiB + 99 * i)) for i in range(6)]]
    load = asyncio.create_task(run_docks(fleet, docks, work))
    while not any(s.op == "complete" for s in docks[0].sent) and not load.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    # A probe it had taken dies with it: arq would hand it on only after job_timeout (an hour); the ingest janitor
    # queues it again once it has been pending probe_lost_after_s (the next test makes that case certain).
    fleet.workers[0].kill()
    await asyncio.wait_for(load, 300)
    rows = await check_recordings(fleet, {dev: data for w in work for dev, data in w})
    ids = [r["id"] for r in rows]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        pending = await fleet.sql("SELECT id FROM recordings WHERE id = ANY($1::text[]) AND media_status = 'pending'", ids)
        if not pending:
            break
        await asyncio.sleep(0.5)
    assert not pending, f"probes never ran: {[r['id'] for r in pending]}\n{fleet.logs()}"
    probed = Counter(r["object_id"] for r in await fleet.sql(
        "SELECT object_id FROM audit_events WHERE action = 'recording.probed' AND object_id = ANY($1::text[])", ids))
    assert probed == Counter(dict.fromkeys(ids, 1)), probed  # each probe recorded once, whoever ran it
    fleet.workers[0].start()


async def test_a_probe_held_by_a_killed_worker_runs_again_once(fleet):
    """The case the kill above may or may not hit, made certain: the probe job is left queued and in progress
    as a SIGKILLed worker leaves it. No live worker takes it; the janitor queues the probe again and it runs once."""
    fleet.ensure_up()
    for w in fleet.workers:
        w.kill()
    (h,) = await fleet.dock_tokens("dock-held")
    data = blob(8100, MiB + 7)
    await run_docks(fleet, [Dock(fleet.all_urls, h, part_size=MiB, parallel=1)], [[("cam-held", data)]])
    (rec,) = await check_recordings(fleet, {"cam-held": data})
    held = await fleet.hold_as_a_dead_worker("probe_recording", recording_id=rec["id"])
    assert len(held) == 1, held
    fleet.ensure_up()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        (row,) = await fleet.sql("SELECT media_status FROM recordings WHERE id = $1", rec["id"])
        if row["media_status"] != "pending":
            break
        await asyncio.sleep(0.5)
    assert row["media_status"] == "done", f"the held probe was never run again\n{fleet.logs()}"
    assert await fleet.still_held(held) == held  # the dead worker's job was not the one that ran
    probed = await fleet.sql("SELECT actor FROM audit_events WHERE action = 'recording.probed' AND object_id = $1",
                             rec["id"])
    assert len(probed) == 1, probed


async def test_revocation_holds_on_every_replica_at_once(fleet):
    fleet.ensure_up()
    (h,) = await fleet.dock_tokens("dock-revoked")
    person = fleet.token("sup-fleet", "supervisor")
    async with httpx.AsyncClient(timeout=30) as c:
        for url in fleet.all_urls():
            assert (await c.get(f"{url}/v1/recordings", headers=person)).status_code == 200
            assert (await c.post(f"{url}/v1/uploads", json=meta(b"x" * 10, "cam-revoked"), headers=h)).status_code in (200, 201)

        async def revoke(s, _ctx):  # what `bwv dock revoke` and `bwv token revoke --sub` do
            await auth.revoke_dock(s, ADMIN, "dock-revoked")
            await auth.revoke_tokens(s, ADMIN, sub="sup-fleet")

        await fleet.admin(revoke)
        for url in fleet.all_urls():  # no cache on either replica outlives the commit
            assert (await c.post(f"{url}/v1/uploads", json=meta(b"y" * 10, "cam-revoked"), headers=h)).status_code == 401
            assert (await c.get(f"{url}/v1/recordings", headers=person)).status_code == 401


async def test_two_sweeps_at_once_delete_each_recording_once_and_the_audit_chain_holds(fleet):
    fleet.ensure_up()
    (h,) = await fleet.dock_tokens("dock-sweep")
    work = [[(f"cam-sweep-{i}", blob(8000 + i, 300_000 + i)) for i in range(10)]]
    await run_docks(fleet, [Dock(fleet.all_urls, h, part_size=100_000)], work)
    due = {r["id"]: r["storage_key"] for r in await fleet.sql(
        "SELECT id, storage_key FROM recordings WHERE status = 'active' AND delete_after IS NOT NULL")}
    assert len(due) >= 10
    as_of = "2099-01-01T00:00:00Z"
    procs = [subprocess.Popen([bin_path(), "retention", "sweep", "--as-of", as_of], env=fleet.env,  # noqa: ASYNC220
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    deleted = [line.split("\t")[1] for out, _ in outs for line in out.splitlines() if line.startswith("deleted\t")]
    assert Counter(deleted) == Counter(dict.fromkeys(due, 1)), Counter(deleted)  # each once, none skipped
    events = Counter(r["object_id"] for r in await fleet.sql(
        "SELECT object_id FROM audit_events WHERE action = 'recording.deleted'"))
    assert events == Counter(dict.fromkeys(due, 1))
    assert not set(due.values()) & set(fleet.objects())
    # Writers on two api replicas, two workers and two sweeps: one linear chain still verifies.
    seqs = [r["seq"] for r in await fleet.sql("SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    fleet.bwv("audit", "verify")


async def test_an_exhausted_connection_pool_answers_503_with_retry_after(pg_template, tmp_path):
    """Under a shift-change load every pooled connection can be busy for longer than the pool waits. That is
    a busy server, not a broken one: a problem with Retry-After, so docks and the balancer back off."""
    from service.app import create_app
    from service.config import Settings
    from service.context import build_context
    from service.db import make_engine, make_sessionmaker
    from service.jobs import InProcessJobs
    from tests.fixtures.services import create_database, drop_database, pg_url
    from tests.fixtures.stack import ROOT

    name = await create_database(pg_template)
    st = Settings(data_dir=tmp_path / "data", secret_key="pool-test", policy_dir=ROOT / "policies",
                  database_url=pg_url(name))
    ctx = build_context(st)
    await ctx.engine.dispose()
    ctx.engine = make_engine(st.db_url, pool_size=1, max_overflow=0, pool_timeout=0.5)
    ctx.sessions = make_sessionmaker(ctx.engine)
    ctx.jobs = InProcessJobs(ctx, cron=False)
    app = create_app(ctx=ctx)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        headers = {"Authorization": f"Bearer {ctx.tokens.issue('sup-pool', ['supervisor'], 600)[0]}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bodycam.test") as c:
            async with ctx.engine.connect() as held:  # the pool's only connection, busy elsewhere
                r = await c.get("/v1/recordings", headers=headers)
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["type"].endswith("/database-busy") and int(r.headers["Retry-After"]) > 0
                await held.rollback()
            assert (await c.get("/v1/recordings", headers=headers)).status_code == 200
    finally:
        await lifespan.__aexit__(None, None, None)
        await drop_database(name)


@pytest.mark.long
async def test_replicas_killed_in_turn_under_a_long_load(fleet):
    """A rolling disaster: each replica in turn SIGKILLed and restarted while docks keep uploading, big parts
    (straight into S3 assemblies) and small ones (staged) alike. Every dock must finish every recording."""
    fleet.ensure_up()
    n_docks = 8
    headers = await fleet.dock_tokens(*(f"dock-campaign-{d}" for d in range(n_docks)))
    docks = [Dock(fleet.all_urls, h, part_size=(5 * MiB if d % 2 else 2 * MiB), parallel=3, backoff_cap=1.0)
             for d, h in enumerate(headers)]
    work = [[(f"cam-campaign-{d}-{i}", blob(9000 + d * 10 + i, random.Random(d * 7 + i).randrange(2 * MiB, 16 * MiB)))
             for i in range(4)] for d in range(n_docks)]
    load = asyncio.create_task(run_docks(fleet, docks, work))
    kills = 0
    rng = random.Random(16)
    while not load.done() and kills < 8:
        await asyncio.wait({load}, timeout=rng.uniform(2, 6))
        if load.done():
            break
        i = kills % 2
        fleet.servers[i].kill()
        kills += 1
        await asyncio.sleep(rng.uniform(0.5, 3))
        fleet.restart_server(i)
    try:
        await asyncio.wait_for(load, 900)
    except Exception:
        print(fleet.logs())
        raise
    assert kills >= 3, "the load finished before the campaign; use more docks"
    await check_recordings(fleet, {dev: data for w in work for dev, data in w})


async def test_a_bundle_queued_to_both_workers_is_built_once(fleet):
    """The same bundle job handed to both workers at once (a retry and a janitor's re-queue, say): one
    builds it, the other skips, the audit says built once, and either replica serves the ZIP."""
    from service.jobs import ArqJobs, JobName
    from tests.fixtures.media import cached_clip

    fleet.ensure_up()
    (h,) = await fleet.dock_tokens("dock-bundle")
    a, b = fleet.all_urls()
    clip = cached_clip(seconds=4, gop_s=2.0).read_bytes()
    dis = fleet.token("dc-fleet", "disclosure")
    async with httpx.AsyncClient(timeout=60) as c:
        rec = await Dock(fleet.all_urls, h, part_size=len(clip) // 2 + 1).upload(c, clip, meta(clip, "cam-bundle"))
        for _ in range(360):  # a worker probes it first
            if (await fleet.sql("SELECT media_status FROM recordings WHERE id = $1", rec["id"]))[0][0] != "pending":
                break
            await asyncio.sleep(0.5)
        cid = (await c.post(f"{a}/v1/cases", json={"urn": "URN-FLEET-1", "title": "R v Fleet"}, headers=dis)).json()["id"]
        r = await c.post(f"{b}/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "FL/1"}, headers=dis)
        assert r.status_code == 201, r.text
        jobs = await ArqJobs.connect(fleet.env["BWV_REDIS_URL"], fleet.env["BWV_QUEUE_NAME"])
        try:
            r = await c.post(f"{a}/v1/cases/{cid}/bundles", headers=dis)
            assert r.status_code == 202, r.text
            bid = r.json()["bundle_id"]
            await asyncio.gather(*(jobs.enqueue(JobName.BUILD_BUNDLE, bundle_id=bid) for _ in range(3)))
        finally:
            await jobs.close()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            st = (await c.get(f"{b}/v1/bundles/{bid}", headers=dis)).json()
            if st["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.5)
        assert st["status"] == "ready", f"{st}\n{fleet.logs()}"
        await asyncio.sleep(2)  # the other copies of the job run and skip
        built = await fleet.sql("SELECT details FROM audit_events WHERE action = 'bundle.built'")
        assert len([x for x in built if bid in str(x["details"])]) == 1
        dl = await c.get(f"{a}/v1/bundles/{bid}/download", headers=dis)
        assert dl.status_code == 200 and hashlib.sha256(dl.content).hexdigest() == st["sha256"]


async def test_a_redaction_queued_to_both_workers_is_made_once(fleet):
    """The same redaction run handed to both workers at once: one makes it, the others find it claimed, the
    audit says redacted once, and either replica serves the one redacted copy."""
    from datetime import UTC, datetime, timedelta

    from service.jobs import ArqJobs, JobName
    from tests.fixtures.media import cached_clip
    from tests.helpers import sar_body

    fleet.ensure_up()
    (h,) = await fleet.dock_tokens("dock-redact")
    a, b = fleet.all_urls()
    clip = cached_clip(seconds=3, width=320, height=240, gop_s=1.0).read_bytes()
    sar_h = fleet.token("sar-fleet", "sar_handler")
    now = datetime.now(UTC)
    async with httpx.AsyncClient(timeout=60) as c:
        rec = await Dock(fleet.all_urls, h, part_size=len(clip) // 2 + 1).upload(c, clip, meta(clip, "cam-redact"))
        sar = (await c.post(f"{a}/v1/sars", json=sar_body(now - timedelta(days=2), now), headers=sar_h)).json()
        item = await c.post(f"{b}/v1/sars/{sar['id']}/items", json={"recording_id": rec["id"]}, headers=sar_h)
        assert item.status_code == 201, item.text
        iid = item.json()["id"]
        plan = {"auto_faces": False, "boxes": [{"start_s": 0.5, "end_s": 2.0, "x": 10, "y": 10, "w": 100, "h": 80}]}
        r = await c.post(f"{a}/v1/sars/{sar['id']}/items/{iid}/redaction", json=plan, headers=sar_h)
        assert r.status_code == 202, r.text
        run = r.json()["job_id"]
        jobs = await ArqJobs.connect(fleet.env["BWV_REDIS_URL"], fleet.env["BWV_QUEUE_NAME"])
        try:
            await asyncio.gather(*(jobs.enqueue(JobName.REDACT_SAR_ITEM, item_id=iid, run=run) for _ in range(3)))
        finally:
            await jobs.close()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            red = (await c.get(f"{b}/v1/sars/{sar['id']}", headers=sar_h)).json()["items"][0]["redaction"]
            if red["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.5)
        assert red["status"] == "ready", f"{red}\n{fleet.logs()}"
        await asyncio.sleep(2)  # the other copies of the job run and skip
        made = await fleet.sql("SELECT details FROM audit_events WHERE action = 'sar.redacted' AND object_id = $1",
                               rec["id"])
        assert len(made) == 1, made
        copies = [await c.get(f"{u}/v1/sars/{sar['id']}/items/{iid}/redacted", headers=sar_h) for u in (a, b)]
        assert [x.status_code for x in copies] == [200, 200]
        assert copies[0].content == copies[1].content and copies[0].content != clip


async def test_console_sign_out_on_one_replica_holds_on_the_other(fleet):
    """A session cookie is a token whose jti is revoked at sign-out, in the shared database: the replica that
    did not see the sign-out refuses the cookie on the very next request."""
    from service.auth import accounts
    from tests.helpers import PASSWORD, cookie_header, csrf, set_cookies

    fleet.ensure_up()
    a, b = fleet.all_urls()

    async def add(s, _ctx):
        await accounts.add_user(s, ADMIN, "sup-cookie", ["supervisor"], PASSWORD)

    await fleet.admin(add)
    async with httpx.AsyncClient(timeout=30) as c:
        r = await c.get(f"{a}/ui/login")
        pre = set_cookies(r)
        r = await c.post(f"{a}/ui/login", data={"username": "sup-cookie", "password": PASSWORD,
                                                "csrf_token": csrf(r.text)}, headers=cookie_header(pre))
        assert r.status_code == 303, r.text
        jar = {**pre, **set_cookies(r)}
        for url in (a, b):  # signed in on both
            page = await c.get(f"{url}/ui/supervisor/alerts", headers=cookie_header(jar))
            assert page.status_code == 200, (url, page.status_code)
        out = await c.post(f"{a}/ui/logout", data={"csrf_token": csrf(page.text)}, headers=cookie_header(jar))
        assert out.status_code in (200, 303), out.text
        for url in (b, a):  # the old cookie, replayed by whoever kept it
            again = await c.get(f"{url}/ui/supervisor/alerts", headers=cookie_header(jar))
            assert again.status_code in (303, 401) and "sup-cookie" not in again.text, (url, again.status_code)
