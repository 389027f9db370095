"""Building a CPS bundle: re-verify each source's SHA-256, cut each exhibit (ffmpeg stream copy, or a
frame-exact re-encode when ``accurate``), and stream a ZIP with the clips, ``manifest.json``,
``manifest.csv`` and ``continuity.csv`` (this case's story of every source: see continuity.py) into object
storage.

Clips are cut one at a time into a temporary folder (a clip, never the bundle, touches local disk). The
bundle becomes ``ready`` only after the whole ZIP is stored; a worker killed mid-build leaves it
``building``, and the janitor re-queues it (three attempts, then ``failed``).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import tempfile
from datetime import timedelta

import structlog
from sqlalchemy import select

from service.audit import repository as audit_repo
from service.audit import service as audit
from service.auth.schemas import Principal, system_principal
from service.context import Context
from service.db import transaction
from service.devices import service as devices
from service.disclosure import continuity
from service.disclosure import repository as repo
from service.disclosure.listing import exhibits_of
from service.disclosure.models import Bundle
from service.disclosure.naming import exhibit_file_name, first_collision
from service.disclosure.zipstream import Member, zip_to_store
from service.errors import Conflict, NotFound
from service.files import file_digest, file_reader
from service.ids import new_id
from service.jobs import JobName
from service.media.clip import cut_async
from service.media.source import media_source
from service.recordings import repository as recordings_repo
from service.recordings.access import refuse_restricted
from service.recordings.models import Recording
from service.timeutil import iso, utcnow

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 3
MANIFEST_COLUMNS = ["exhibit_ref", "file", "sha256", "size_bytes", "source_recording_id", "source_sha256",
                    "clip_start_s", "clip_end_s", "accurate", "officer_id", "device_id", "trusted_start",
                    "time_trust"]


class BuildFailed(Exception):
    pass


async def request_bundle(ctx: Context, actor: Principal, case_id: str) -> Bundle:
    async with transaction(ctx.sessions) as s:
        case = await repo.get_case(s, case_id, for_update=True)
        if case is None:
            raise NotFound(f"No case {case_id!r}.", slug="case-not-found")
        items = await repo.items(s, case.id)
        if not items:
            raise Conflict(f"Case {case.urn} has no exhibits to bundle.", slug="empty-case")
        await refuse_restricted(s, actor, exhibits_of(case.id), "case's exhibits")
        now = utcnow()
        bundle = Bundle(id=new_id("bdl"), case_id=case.id, status="queued", items_total=len(items), items_done=0,
                        attempts=0, created_by=actor.sub, created_at=now, updated_at=now)
        s.add(bundle)
        await audit.record(s, actor, "bundle.requested", "case", case.id, {"bundle_id": bundle.id, "items": len(items)})
    await ctx.jobs.enqueue(JobName.BUILD_BUNDLE, bundle_id=bundle.id)
    return bundle


async def _verify_source(ctx: Context, rec: Recording) -> None:
    h = hashlib.sha256()
    async for chunk in ctx.store.read(rec.storage_key):
        await asyncio.to_thread(h.update, chunk)  # hashlib releases the GIL: the cut runs alongside
    if h.hexdigest() != rec.sha256:
        raise BuildFailed(f"source {rec.id} no longer matches its SHA-256 (stored {h.hexdigest()}, "
                          f"recorded {rec.sha256})")


def text_member(data: bytes):
    async def gen():
        yield data
    return lambda: gen()


async def build(ctx: Context, bundle_id: str) -> str:
    actor = system_principal("bundle-builder")
    async with transaction(ctx.sessions) as s:
        bundle = await s.get(Bundle, bundle_id, with_for_update=True, populate_existing=True)
        # Only a queued bundle is claimed: a "building" one may still be alive in another worker (arq
        # retries a dead worker's job as well); the janitor re-queues it once it has gone stale.
        if bundle is None or bundle.status != "queued":
            return "skipped"
        bundle.status, bundle.attempts, bundle.items_done = "building", bundle.attempts + 1, 0
        bundle.updated_at = utcnow()
        subject = ("sar", bundle.sar_id) if bundle.sar_id else ("case", bundle.case_id)
    try:
        with tempfile.TemporaryDirectory(prefix="bwv-bundle-") as tmp:
            if bundle.sar_id:
                from service.sar.disclose import sar_members  # the SAR domain knows its redacted copies

                members, count = await sar_members(ctx, bundle_id, bundle.sar_id)
            else:
                members, count = await _case_members(ctx, actor, bundle_id, bundle.case_id, tmp)
            key = f"bundles/{bundle_id}.zip"
            size, sha = await zip_to_store(ctx.store, key, members)
    except Exception as e:
        await _fail(ctx, bundle_id, e)
        raise
    async with transaction(ctx.sessions) as s:
        b = await s.get(Bundle, bundle_id, with_for_update=True, populate_existing=True)
        b.status, b.storage_key, b.size_bytes, b.sha256 = "ready", key, size, sha
        b.finished_at = b.updated_at = utcnow()
        await audit.record(s, actor, "bundle.built", *subject,
                           {"bundle_id": bundle_id, "sha256": sha, "size_bytes": size, "items": count})
    return "ready"


async def set_progress(ctx: Context, bundle_id: str, done: int) -> None:
    async with transaction(ctx.sessions) as s:
        b = await s.get(Bundle, bundle_id, with_for_update=True, populate_existing=True)
        b.items_done, b.updated_at = done, utcnow()


async def _case_members(ctx: Context, actor: Principal, bundle_id: str, case_id: str,
                        tmp: str) -> tuple[list[Member], int]:
    """Cut every exhibit into *tmp*; the clips, manifests and continuity as ZIP members."""
    async with ctx.sessions() as s:
        case = await repo.get_case(s, case_id)
        items = await repo.items(s, case.id)
        recs = await recordings_repo.by_ids(s, [i.recording_id for i in items])
    clash = first_collision([i.exhibit_ref for i in items])
    if clash is not None:  # only a case from before references were checked at POST can hold one
        raise BuildFailed(f"exhibits {clash[0]} and {clash[1]} would share the file {exhibit_file_name(clash[1])}")
    members, rows, verified, digesting = [], [], set(), []
    for n, item in enumerate(items, start=1):
        rec = recs[item.recording_id]
        async with ctx.sessions() as s:
            if rec.status != "active":
                raise BuildFailed(f"source {rec.id} of exhibit {item.exhibit_ref} was deleted")
            mark = await repo.mark(s, rec.id)
            if mark is not None:
                raise BuildFailed(f"source {rec.id} of exhibit {item.exhibit_ref} is marked do-not-disclose")
        name = exhibit_file_name(item.exhibit_ref)
        path = os.path.join(tmp, name)
        source = await media_source(ctx.store, rec.storage_key)
        start = item.clip_start_s or 0.0
        cutting = cut_async(source, path, start, item.clip_end_s, accurate=item.accurate,
                            source_duration_s=(rec.media or {}).get("duration_s"))
        if rec.id in verified:
            result = await cutting
        else:  # each source is re-verified once per bundle, while its first clip is cut
            _, result = await asyncio.gather(_verify_source(ctx, rec), cutting)
            verified.add(rec.id)
        # The clip's digest runs in a thread while the next clip is cut.
        digesting.append((item, rec, name, path, start, result, asyncio.create_task(
            asyncio.to_thread(file_digest, path))))
        await set_progress(ctx, bundle_id, n)
    # Each source was re-hashed above (a mismatch fails the build): continuity tells the check.
    clipped = [("recording.verified", "recording", rid, {"bundle_id": bundle_id, "sha256": recs[rid].sha256,
                                                          "result": "match"}) for rid in sorted(verified)]
    for item, rec, name, path, start, result, task in digesting:
        digest, crc, size = await task
        members.append(Member(name, file_reader(path), size=size, crc32=crc))
        rows.append({"exhibit_ref": item.exhibit_ref, "file": name, "sha256": digest,
                     "size_bytes": size, "source_recording_id": rec.id, "source_sha256": rec.sha256,
                     "clip_start_s": start, "clip_end_s": item.clip_end_s if item.clip_end_s else result.end_s,
                     "accurate": item.accurate, "officer_id": rec.officer_id, "device_id": rec.device_id,
                     "trusted_start": iso(rec.trusted_start or rec.basis_start), "time_trust": rec.time_trust})
        clipped.append(("recording.clipped", "recording", rec.id,
                        {"bundle_id": bundle_id, "case_urn": case.urn, "exhibit_ref": item.exhibit_ref,
                         "clip": [start, item.clip_end_s], "sha256": digest}))
    async with transaction(ctx.sessions) as s:
        await audit.record_many(s, actor, clipped)  # before continuity.csv is read, so it lists them
    sources = frozenset(r["source_recording_id"] for r in rows)
    async with ctx.sessions() as s:
        subject = continuity.Subject(case.id, case.urn, frozenset(await repo.case_bundle_ids(s, case.id)), sources)
        events = await audit_repo.events_for_objects(s, sorted(sources | subject.bundle_ids | {case.id}))
    members += [Member("manifest.json", text_member(_manifest_json(case, bundle_id, rows))),
                Member("manifest.csv", text_member(csv_bytes(MANIFEST_COLUMNS, rows))),
                Member("continuity.csv", text_member(csv_bytes(continuity.COLUMNS, continuity.rows(events, subject))))]
    return members, len(rows)


async def _fail(ctx: Context, bundle_id: str, error: Exception) -> None:
    """A source that fails verification fails the bundle loudly (alert); other errors are retried."""
    permanent = isinstance(error, BuildFailed | ValueError)
    async with transaction(ctx.sessions) as s:
        b = await s.get(Bundle, bundle_id, with_for_update=True, populate_existing=True)
        b.error, b.updated_at = f"{type(error).__name__}: {error}"[:2000], utcnow()
        if permanent or b.attempts >= MAX_ATTEMPTS:
            b.status, b.finished_at = "failed", utcnow()
            await devices.raise_alert(s, "bundle_failed", "bundle", bundle_id, f"Bundle {bundle_id} failed: {error}",
                                      severity="critical")
        else:
            b.status = "queued"


async def requeue_stuck(ctx: Context, older_than: timedelta = timedelta(minutes=30)) -> int:
    """Bundles left ``building`` by a dead worker are queued again (or failed after MAX_ATTEMPTS)."""
    cutoff = utcnow() - older_than
    async with transaction(ctx.sessions) as s:
        stuck = list((await s.execute(select(Bundle).where(Bundle.status.in_(("building", "queued")),
                                                           Bundle.updated_at < cutoff))).scalars())
        for b in stuck:
            if b.attempts >= MAX_ATTEMPTS:
                b.status, b.finished_at, b.error = "failed", utcnow(), "gave up after repeated interrupted builds"
            else:
                b.status, b.updated_at = "queued", utcnow()
    for b in stuck:
        if b.status == "queued":
            await ctx.jobs.enqueue(JobName.BUILD_BUNDLE, bundle_id=b.id)
    return len(stuck)


def csv_bytes(columns: list[str], rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def _manifest_json(case, bundle_id: str, rows: list[dict]) -> bytes:
    doc = {"bundle_id": bundle_id, "case": {"urn": case.urn, "title": case.title}, "created_at": iso(utcnow()),
           "exhibits": rows,
           "note": "Copy clips start at the key frame at or before clip_start_s; 'accurate' clips are re-encoded."}
    return json.dumps(doc, indent=2).encode()
