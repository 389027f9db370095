"""Disclosing a SAR through the disclosure module: a bundle of the redacted copies and their redaction
logs (never an original), behind a share link that answers 409 until the bundle is built.

A redacted copy is re-hashed while it streams into the ZIP; a copy that no longer matches the hash in
its redaction log fails the bundle instead of being disclosed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.roles import SAR_HANDLERS, SAR_READERS, require
from service.auth.schemas import Principal
from service.context import Context
from service.db import after_commit
from service.disclosure import repository as disclosure_repo
from service.disclosure import shares
from service.disclosure.bundles import (
    SIGNATURE,
    BuildFailed,
    Steps,
    csv_bytes,
    signature_members,
    text_member,
)
from service.disclosure.models import Bundle, BundleStatus, Share, ShareState
from service.disclosure.service import refuse_if_marked
from service.disclosure.tasks import build
from service.disclosure.zipstream import Member
from service.errors import Conflict, NotFound
from service.ids import new_id
from service.jobs import JobName
from service.recordings import repository as recordings_repo
from service.recordings.access import refuse_restricted
from service.recordings.models import RecordingStatus
from service.sar import repository as repo
from service.sar.models import RedactionStatus
from service.sar.schemas import DiscloseIn
from service.sar.service import get_sar, open_sar
from service.timeutil import iso, utcnow

MANIFEST_COLUMNS = ["file", "sha256", "size_bytes", "redaction_log", "source_recording_id", "clip_start_s",
                    "clip_end_s", "trusted_start", "auto_faces", "boxes", "muted_ranges"]


async def disclose(s: AsyncSession, actor: Principal, ctx: Context, sar_id: str,
                   body: DiscloseIn) -> tuple[Bundle, Share, str]:
    require(actor, SAR_HANDLERS)
    policy = ctx.policies.sar
    expires_at = body.expires_at or utcnow() + timedelta(days=policy.share_expires_days)
    sar = await open_sar(s, sar_id)
    items = await repo.items(s, sar.id)
    if not items:
        raise Conflict(f"{sar.id} has no items to disclose.", slug="sar-no-items")
    await refuse_restricted(s, actor, repo.item_recordings(sar.id), "request's items")
    recs = await recordings_repo.by_ids(s, [i.recording_id for i in items])
    for item in items:
        if recs[item.recording_id].status != RecordingStatus.ACTIVE:
            raise Conflict(f"Recording {item.recording_id} of item {item.id} was deleted; remove the item.",
                           slug="recording-deleted")
        await refuse_if_marked(s, item.recording_id)
        if item.redaction_status != RedactionStatus.READY:
            raise Conflict(f"Item {item.id} has no finished redaction ({item.redaction_status}); only "
                           "redacted copies are disclosed.", slug="unredacted-item", item_id=item.id)
    now = utcnow()
    bundle = Bundle(id=new_id("bdl"), sar_id=sar.id, status=BundleStatus.QUEUED, items_total=len(items),
                    items_done=0, attempts=0, created_by=actor.sub, created_at=now, updated_at=now)
    s.add(bundle)
    await s.flush()
    share, token = await shares.create_share(s, actor, bundle.id, f"data subject of {sar.id}", expires_at,
                                             body.max_downloads or policy.share_max_downloads, sar_id=sar.id)
    if sar.share_id is not None:  # one live link per request: the new bundle replaces what it held
        await shares.revoke(s, actor, sar.share_id, sar_id=sar.id, reason=f"replaced by {share.id}")
    sar.bundle_id, sar.share_id = bundle.id, share.id
    await audit.record(s, actor, "sar.disclosed", "sar", sar.id,
                       {"bundle_id": bundle.id, "share_id": share.id, "items": [i.id for i in items],
                        "redacted_sha256": [i.redacted_sha256 for i in items], "expires_at": expires_at})
    after_commit(s, lambda: ctx.jobs.enqueue(JobName.BUILD_SAR_BUNDLE, bundle_id=bundle.id))
    return bundle, share, token


async def current(s: AsyncSession, viewer: Principal, sar_id: str) -> tuple[Bundle, Share, ShareState]:
    """The request's latest disclosure: its bundle, its link and what a download would meet now (the
    link itself is shown once, when disclosing: only its hash is kept)."""
    require(viewer, SAR_READERS)
    sar = await get_sar(s, sar_id)
    bundle = await disclosure_repo.get_bundle(s, sar.bundle_id) if sar.bundle_id else None
    share = await disclosure_repo.get_share(s, sar.share_id) if sar.share_id else None
    if bundle is None or share is None:
        raise NotFound(f"{sar_id} has not been disclosed.", slug="sar-not-disclosed")
    return bundle, share, shares.state(share, utcnow(), bundle.size_bytes)


def _verified(ctx: Context, key: str, sha256: str, on_done):
    def open_() -> AsyncIterator[bytes]:
        async def gen():
            h = hashlib.sha256()
            async for chunk in ctx.store.read(key):
                h.update(chunk)
                yield chunk
            if h.hexdigest() != sha256:
                raise BuildFailed(f"redacted copy {key} no longer matches its SHA-256")
            await on_done()
        return gen()
    return open_


async def sar_members(ctx: Context, bundle: Bundle, tmp: str, steps: Steps) -> tuple[list[Member], int]:
    """The ZIP members of a SAR bundle, checked again now: no deleted source, no do-not-disclose mark,
    every item redacted. The redacted copies stream from object storage (*tmp* is not needed)."""
    bundle_id = bundle.id
    async with ctx.sessions() as s:
        sar = await repo.get(s, bundle.sar_id)
        items = await repo.items(s, sar.id)
        recs = await recordings_repo.by_ids(s, [i.recording_id for i in items])
        for item in items:
            try:
                await refuse_if_marked(s, item.recording_id)
            except Conflict as e:
                raise BuildFailed(e.detail) from e
    members, rows, done = [], [], [0]

    async def one_more() -> None:
        done[0] += 1
        await steps.progress(done[0])

    for n, item in enumerate(items, start=1):
        rec = recs[item.recording_id]
        if rec.status != RecordingStatus.ACTIVE or item.redaction_status != RedactionStatus.READY:
            raise BuildFailed(f"item {item.id} is no longer disclosable (recording {rec.status}, "
                              f"redaction {item.redaction_status})")
        name = f"{n:02d}-{rec.id}.mp4"
        log_name = f"{n:02d}-{rec.id}.redaction.json"
        params = item.redaction_params or {}
        members += [Member(name, _verified(ctx, item.redacted_key, item.redacted_sha256, one_more),
                           size=item.redacted_size, crc32=item.redacted_crc32),
                    Member(log_name, text_member(json.dumps(item.redaction_log, indent=2, default=str).encode()))]
        rows.append({"file": name, "sha256": item.redacted_sha256, "size_bytes": item.redacted_size,
                     "redaction_log": log_name, "source_recording_id": rec.id,
                     "clip_start_s": item.clip_start_s or 0.0,
                     "clip_end_s": item.clip_end_s or (rec.media or {}).get("duration_s"),
                     "trusted_start": iso(rec.trusted_start or rec.basis_start),
                     "auto_faces": bool(params.get("auto_faces")), "boxes": len(params.get("boxes", [])),
                     "muted_ranges": len(params.get("mute", []))})
    doc = {"bundle_id": bundle_id, "subject_access_request": sar.id, "regime": sar.regime,
           "created_at": iso(utcnow()), "files": rows, "key_id": ctx.signer.key_id, "signature": SIGNATURE,
           "note": "Every video is a redacted copy: other people's faces are blurred and audio is muted where "
                   "the redaction log says so. The originals are kept by the force."}
    manifest = json.dumps(doc, indent=2).encode()
    members += [Member("manifest.json", text_member(manifest)),
                Member("manifest.csv", text_member(csv_bytes(MANIFEST_COLUMNS, rows)))]
    members += await signature_members(ctx, manifest)  # the requester can check it is the force's, as the CPS can
    return members, len(rows)


async def build_sar_bundle(ctx: Context, bundle_id: str) -> str:
    """The job: a SAR's bundle, built by the disclosure module's builder from these members."""
    return await build(ctx, bundle_id, sar_members, sar=True)
