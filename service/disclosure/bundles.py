"""CPS bundles: asking for one (the service), and what goes into a case's ZIP (the build job, in
:mod:`service.disclosure.tasks`, streams it into object storage).

A bundle holds each exhibit cut from its re-verified source (ffmpeg stream copy, or a frame-exact
re-encode when ``accurate``), ``manifest.json``, ``manifest.csv`` and ``continuity.csv`` (this case's
story of every source: see continuity.py). Clips are cut one at a time into a temporary folder (a clip,
never the bundle, touches local disk).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import repository as audit_repo
from service.audit import service as audit
from service.auth.roles import DISCLOSURE_STAFF, require
from service.auth.schemas import Principal
from service.coldtier.access import playable_copy, readable_copy, require_readable
from service.context import Context
from service.db import after_commit
from service.disclosure import continuity
from service.disclosure import repository as repo
from service.disclosure.models import Bundle, BundleStatus
from service.disclosure.naming import exhibit_file_name, first_collision
from service.disclosure.service import get_case
from service.disclosure.shares import case_bundle
from service.disclosure.verify import PUBLIC_KEY, SIGNATURE, TIMESTAMP
from service.disclosure.zipstream import Member
from service.errors import Conflict
from service.files import file_digest, file_reader
from service.http_range import ByteRange, parse_range
from service.ids import new_id
from service.jobs import JobName
from service.media.clip import MP4_AUDIO, cut_async
from service.media.source import media_source
from service.recordings import repository as recordings_repo
from service.recordings.access import refuse_restricted
from service.recordings.models import Recording, RecordingStatus
from service.recordings.workingcopy import cut_from
from service.signing.content_credentials import load_credentials
from service.signing.tsa import stamper_for
from service.timeutil import iso, utcnow

MANIFEST_COLUMNS = ["exhibit_ref", "file", "sha256", "size_bytes", "source_recording_id", "source_sha256",
                    "clip_start_s", "clip_end_s", "accurate", "officer_id", "device_id", "trusted_start",
                    "time_trust", "source", "cut_from", "working_copy_sha256"]


@dataclass(frozen=True)
class Steps:
    """What a build reports as it goes, each in the build job's own transaction: items done so far, and
    audit events (a case's clips are audited before its continuity.csv is read, so it lists them)."""

    progress: Callable[[int], Awaitable[None]]
    record: Callable[[list[tuple]], Awaitable[None]]
    # Sign a checkpoint of the audit chain now: (seq, hash) of the head it covers.
    checkpoint: Callable[[], Awaitable[tuple[int, str] | None]] | None = None


class BuildFailed(Exception):
    """A bundle that must not be built (a source changed, deleted or marked): failed, not retried."""


async def request_bundle(s: AsyncSession, actor: Principal, ctx: Context, case_id: str) -> Bundle:
    require(actor, DISCLOSURE_STAFF)
    case = await get_case(s, case_id, for_update=True)
    items = await repo.items(s, case.id)
    if not items:
        raise Conflict(f"Case {case.urn} has no exhibits to bundle.", slug="empty-case")
    await refuse_restricted(s, actor, repo.exhibits_of(case.id), "case's exhibits")
    now = utcnow()
    bundle = Bundle(id=new_id("bdl"), case_id=case.id, status=BundleStatus.QUEUED, items_total=len(items),
                    items_done=0, attempts=0, created_by=actor.sub, created_at=now, updated_at=now)
    s.add(bundle)
    await audit.record(s, actor, "bundle.requested", "case", case.id, {"bundle_id": bundle.id, "items": len(items)})
    after_commit(s, lambda: ctx.jobs.enqueue(JobName.BUILD_BUNDLE, bundle_id=bundle.id))
    return bundle


async def download(s: AsyncSession, actor: Principal, bundle_id: str, range_header: str | None) -> tuple[Bundle, ByteRange]:
    """A ready case bundle and the bytes asked for; every download is audited (the range too)."""
    require(actor, DISCLOSURE_STAFF)
    b = await case_bundle(s, bundle_id)  # a SAR's bundle answers 404 here
    if b.status != BundleStatus.READY:
        raise Conflict(f"Bundle {bundle_id} is {b.status}, not ready.", slug="bundle-not-ready", status_value=b.status)
    rng = parse_range(range_header, b.size_bytes)
    await audit.record(s, actor, "bundle.downloaded", "bundle", b.id,
                       {"range": [rng.start, rng.end - 1] if rng.partial else None, "user_agent": actor.user_agent})
    return b, rng


async def _verify_source(ctx: Context, rec: Recording) -> None:
    """The master, and the working copy a clip is cut from, still match their hashes."""
    store, key = readable_copy(ctx, rec)  # the master: cold footage waits for its restore
    checks = [(store, key, rec.sha256, "")]
    if cut_from(rec) == "working_copy":
        checks.append((ctx.store, rec.working_copy_key, rec.working_copy_sha256, "working copy of "))
    for store, key, expected, what in checks:
        h = hashlib.sha256()
        async for chunk in store.read(key):
            await asyncio.to_thread(h.update, chunk)  # hashlib releases the GIL: the cut runs alongside
        if h.hexdigest() != expected:
            raise BuildFailed(f"{what}source {rec.id} no longer matches its SHA-256 (stored {h.hexdigest()}, "
                              f"recorded {expected})")


def text_member(data: bytes):
    async def gen():
        yield data
    return lambda: gen()


async def case_members(ctx: Context, bundle: Bundle, tmp: str, steps: Steps) -> tuple[list[Member], int]:
    """Cut every exhibit into *tmp*; the clips, manifests and continuity as ZIP members."""
    bundle_id = bundle.id
    async with ctx.sessions() as s:
        case = await repo.get_case(s, bundle.case_id)
        items = await repo.items(s, case.id)
        recs = await recordings_repo.by_ids(s, [i.recording_id for i in items])
    require_readable(ctx, list(recs.values()))  # cold sources: the bundle waits for their restore
    clash = first_collision([i.exhibit_ref for i in items])
    if clash is not None:  # only a case from before references were checked at POST can hold one
        raise BuildFailed(f"exhibits {clash[0]} and {clash[1]} would share the file {exhibit_file_name(clash[1])}")
    members, rows, verified, digesting = [], [], set(), []
    credentials = load_credentials(ctx.settings.c2pa_cert, ctx.settings.c2pa_key)
    for n, item in enumerate(items, start=1):
        rec = recs[item.recording_id]
        async with ctx.sessions() as s:
            if rec.status != RecordingStatus.ACTIVE:
                raise BuildFailed(f"source {rec.id} of exhibit {item.exhibit_ref} was deleted")
            mark = await repo.mark(s, rec.id)
            if mark is not None:
                raise BuildFailed(f"source {rec.id} of exhibit {item.exhibit_ref} is marked do-not-disclose")
        name = exhibit_file_name(item.exhibit_ref)
        path = os.path.join(tmp, name)
        # Cut from the working copy when the master is in a format only its recorder plays; the master is
        # still re-verified and named in the manifest as the exhibit's source.
        source = await media_source(*playable_copy(ctx, rec))
        start = item.clip_start_s or 0.0
        audio_codec = (rec.media or {}).get("audio_codec") if cut_from(rec) == "master" else "aac"
        cutting = cut_async(source, path, start, item.clip_end_s, accurate=item.accurate,
                            source_duration_s=(rec.media or {}).get("duration_s"),
                            copy_audio=audio_codec is None or audio_codec in MP4_AUDIO)
        if rec.id in verified:
            result = await cutting
        else:  # each source is re-verified once per bundle, while its first clip is cut
            _, result = await asyncio.gather(_verify_source(ctx, rec), cutting)
            verified.add(rec.id)
        if credentials is not None and name.endswith(".mp4"):
            end = item.clip_end_s or result.end_s
            what = ("re-encoded frame-exact" if item.accurate else "trimmed (stream copy)") + \
                f": {start:g} s to {f'{end:g} s' if end else 'the end'} of the source"
            await asyncio.to_thread(credentials.sign_clip, path, title=name, source_id=rec.id, source_sha256=rec.sha256,
                                    actions=[{"action": "c2pa.edited", "description": what}])
        # The clip's digest runs in a thread while the next clip is cut.
        digesting.append((item, rec, name, path, start, result, asyncio.create_task(
            asyncio.to_thread(file_digest, path))))
        await steps.progress(n)
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
                     "trusted_start": iso(rec.trusted_start or rec.basis_start), "time_trust": rec.time_trust,
                     "source": rec.source, "cut_from": cut_from(rec), "working_copy_sha256": rec.working_copy_sha256
                     if cut_from(rec) == "working_copy" else None})
        clipped.append(("recording.clipped", "recording", rec.id,
                        {"bundle_id": bundle_id, "case_urn": case.urn, "exhibit_ref": item.exhibit_ref,
                         "clip": [start, item.clip_end_s], "sha256": digest}))
    await steps.record(clipped)
    checkpoint = await signed_checkpoint(steps)
    sources = frozenset(r["source_recording_id"] for r in rows)
    async with ctx.sessions() as s:
        subject = continuity.Subject(case.id, case.urn, frozenset(await repo.case_bundle_ids(s, case.id)), sources)
        events = await audit_repo.events_for_objects(s, sorted(sources | subject.bundle_ids | {case.id}))
    # The checkpoint covers every continuity event: later ones (another build, a view) wait for the next bundle.
    events = [e for e in events if checkpoint is None or e.seq <= checkpoint[0]]
    manifest = _manifest_json(case, bundle_id, rows, checkpoint, ctx.signer.key_id)
    members += [Member("manifest.json", text_member(manifest)),
                Member("manifest.csv", text_member(csv_bytes(MANIFEST_COLUMNS, rows))),
                Member("continuity.csv", text_member(csv_bytes(continuity.COLUMNS, continuity.rows(events, subject))))]
    members += await signature_members(ctx, manifest)
    return members, len(rows)


async def signed_checkpoint(steps: Steps) -> tuple[int, str] | None:
    """A signed checkpoint covering every event so far (the build's own included)."""
    if steps.checkpoint is None:
        return None
    cp = await steps.checkpoint()
    if cp is None:
        raise BuildFailed("the audit chain could not be checkpointed (storage holds a checkpoint the database "
                          "lacks: run bwv audit verify)")
    return cp


async def signature_members(ctx: Context, manifest: bytes) -> list[Member]:
    """``manifest.sig`` (the raw Ed25519 signature of the exact manifest bytes: ``openssl pkeyutl -verify
    -pubin -inkey force.pem -rawin -in manifest.json -sigfile manifest.sig``), the public key for
    convenience (it proves nothing by itself: verify with a key you trust), and with ``BWV_TSA_URL``
    ``manifest.tsr``, the authority's RFC 3161 time-stamp of the manifest."""
    members = [Member(SIGNATURE, text_member(ctx.signer.sign(manifest))),
               Member(PUBLIC_KEY, text_member(ctx.signer.public_pem.encode()))]
    stamper = stamper_for(ctx.settings.tsa_url)
    if stamper is not None:
        members.append(Member(TIMESTAMP, text_member(await stamper.stamp(manifest))))
    return members


def csv_bytes(columns: list[str], rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def _manifest_json(case, bundle_id: str, rows: list[dict], checkpoint: tuple[int, str] | None, key_id: str) -> bytes:
    doc = {"bundle_id": bundle_id, "case": {"urn": case.urn, "title": case.title}, "created_at": iso(utcnow()),
           "exhibits": rows,
           "audit_checkpoint": {"seq": checkpoint[0], "hash": checkpoint[1]} if checkpoint else None,
           "key_id": key_id, "signature": SIGNATURE,
           "note": "Copy clips start at the key frame at or before clip_start_s; 'accurate' clips are re-encoded. "
                   "manifest.sig is the force's Ed25519 signature of these exact bytes; verify it with the force's "
                   "published key (GET /v1/keys), not with the copy of it in this ZIP. "
                   "source_sha256 is the master's (the exhibit, byte-exact); cut_from says whether a clip was cut "
                   "from it or from its working copy (working_copy_sha256), made because browsers cannot play "
                   "the master's format."}
    return json.dumps(doc, indent=2).encode()
