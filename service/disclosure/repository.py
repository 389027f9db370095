"""Disclosure's SQL: cases, exhibits, do-not-disclose marks, bundles and share links.

``for_update=True`` locks the row for the rest of the caller's transaction and reloads it (a row read
earlier in the same session would otherwise keep its stale attributes)."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from sqlalchemy import BigInteger, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEvent
from service.auth.schemas import Principal
from service.disclosure.models import (
    Bundle,
    BundleStatus,
    Case,
    CaseItem,
    CaseOutcome,
    DoNotDisclose,
    Share,
    ShareReceipt,
)
from service.recordings.models import Recording
from service.recordings.repository import readable_by

T = TypeVar("T")


async def _get(s: AsyncSession, model: type[T], key: str, for_update: bool) -> T | None:
    return await s.get(model, key, with_for_update=for_update, populate_existing=True)


async def get_case(s: AsyncSession, case_id: str, *, for_update: bool = False) -> Case | None:
    return await _get(s, Case, case_id, for_update)


async def get_bundle(s: AsyncSession, bundle_id: str, *, for_update: bool = False) -> Bundle | None:
    return await _get(s, Bundle, bundle_id, for_update)


async def get_share(s: AsyncSession, share_id: str, *, for_update: bool = False) -> Share | None:
    return await _get(s, Share, share_id, for_update)


async def case_by_urn(s: AsyncSession, urn: str) -> Case | None:
    return (await s.execute(select(Case).where(Case.urn == urn))).scalars().first()


async def items(s: AsyncSession, case_id: str) -> list[CaseItem]:
    q = select(CaseItem).where(CaseItem.case_id == case_id).order_by(CaseItem.added_at, CaseItem.id)
    return list((await s.execute(q)).scalars())


async def recording_hashes(s: AsyncSession, recording_ids: list[str]) -> dict[str, str]:
    """Exhibits' source hashes. Not a view of the recordings: the caller was authorised when each was added."""
    if not recording_ids:
        return {}
    q = select(Recording.id, Recording.sha256).where(Recording.id.in_(set(recording_ids)))
    return {rid: sha for rid, sha in (await s.execute(q)).all()}


async def item_by_ref(s: AsyncSession, case_id: str, exhibit_ref: str) -> CaseItem | None:
    q = select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.exhibit_ref == exhibit_ref)
    return (await s.execute(q)).scalars().first()


async def exhibit_refs(s: AsyncSession, case_id: str) -> list[str]:
    return list((await s.execute(select(CaseItem.exhibit_ref).where(CaseItem.case_id == case_id))).scalars())


async def mark(s: AsyncSession, recording_id: str, *, for_update: bool = False) -> DoNotDisclose | None:
    return await _get(s, DoNotDisclose, recording_id, for_update)


def exhibits_of(case_id: str):
    """The recordings that are exhibits of this case (a bundle carries them out)."""
    return exists().where(CaseItem.case_id == case_id, CaseItem.recording_id == Recording.id)


def _exhibit_visible(viewer: Principal):
    return exists().where(Recording.id == CaseItem.recording_id, readable_by(viewer))


async def visible_items(s: AsyncSession, viewer: Principal, case_id: str) -> list[CaseItem]:
    """A case's exhibits *viewer* may see (an exhibit restricted away from them stays held, unlisted)."""
    q = (select(CaseItem).where(CaseItem.case_id == case_id, _exhibit_visible(viewer))
         .order_by(CaseItem.added_at, CaseItem.id))
    return list((await s.execute(q)).scalars())


async def visible_item_counts(s: AsyncSession, viewer: Principal, case_ids: list[str]) -> dict[str, int]:
    if not case_ids:
        return {}
    q = (select(CaseItem.case_id, func.count()).where(CaseItem.case_id.in_(case_ids), _exhibit_visible(viewer))
         .group_by(CaseItem.case_id))
    return {cid: int(n) for cid, n in (await s.execute(q)).all()}


# --- Reads for the lists (newest first: ids are time-ordered, so "before this id" is the next page) ---

async def list_cases(s: AsyncSession, *, status: str | None, before: str | None, limit: int) -> list[Case]:
    q = select(Case)
    if status:
        q = q.where(Case.status == status)
    if before:
        q = q.where(Case.id < before)
    return list((await s.execute(q.order_by(Case.id.desc()).limit(limit))).scalars())


async def case_bundles(s: AsyncSession, case_id: str, *, before: str | None, limit: int) -> list[Bundle]:
    q = select(Bundle).where(Bundle.case_id == case_id)
    if before:
        q = q.where(Bundle.id < before)
    return list((await s.execute(q.order_by(Bundle.id.desc()).limit(limit))).scalars())


def _owned_by(sar_id: str | None):
    # A bundle belongs to a case or to a subject access request; each reaches only its own.
    return Bundle.case_id.is_not(None) if sar_id is None else Bundle.sar_id == sar_id


async def owned_bundle(s: AsyncSession, bundle_id: str, *, sar_id: str | None) -> Bundle | None:
    """A case's bundle (``sar_id`` None), or that request's."""
    q = select(Bundle).where(Bundle.id == bundle_id, _owned_by(sar_id))
    return (await s.execute(q.execution_options(populate_existing=True))).scalars().first()


async def owned_share(s: AsyncSession, share_id: str, *, sar_id: str | None,
                      for_update: bool = False) -> Share | None:
    """A link to a case's bundle (``sar_id`` None), or to that request's."""
    q = select(Share).join(Bundle, Bundle.id == Share.bundle_id).where(Share.id == share_id, _owned_by(sar_id))
    if for_update:
        q = q.with_for_update(of=Share)
    return (await s.execute(q.execution_options(populate_existing=True))).scalars().first()


async def case_bundle_ids(s: AsyncSession, case_id: str) -> list[str]:
    return list((await s.execute(select(Bundle.id).where(Bundle.case_id == case_id))).scalars())


async def bundle_shares(s: AsyncSession, bundle_id: str, *, before: str | None, limit: int) -> list[Share]:
    q = select(Share).where(Share.bundle_id == bundle_id)
    if before:
        q = q.where(Share.id < before)
    return list((await s.execute(q.order_by(Share.id.desc()).limit(limit))).scalars())


# What shares.open_download writes for every use of a link, refused ones included.
SHARE_ACCESS_ACTIONS = ("share.accessed", "share.refused")


def _share_access(share: Share):
    # The events are filed under the bundle (the object a link opens) with the share's id in the details.
    return (AuditEvent.object_id == share.bundle_id, AuditEvent.action.in_(SHARE_ACCESS_ACTIONS),
            AuditEvent.details["share_id"].as_string() == share.id)


async def share_accesses(s: AsyncSession, share: Share, *, limit: int) -> list[AuditEvent]:
    """The newest *limit* uses of a share link, from the audit (the only record of them)."""
    q = select(AuditEvent).where(*_share_access(share)).order_by(AuditEvent.seq.desc()).limit(limit)
    return list((await s.execute(q)).scalars())


async def count_share_accesses(s: AsyncSession, share: Share) -> int:
    return (await s.execute(select(func.count()).select_from(AuditEvent).where(*_share_access(share)))).scalar_one()


# --- Share links ---

async def share_by_token_hash(s: AsyncSession, token_sha256: str) -> Share | None:
    return (await s.execute(select(Share).where(Share.token_sha256 == token_sha256))).scalars().first()


async def reserve(s: AsyncSession, share_id: str, now: datetime, size: int, start: int, length: int) -> bool:
    """One conditional UPDATE: it holds the row while it checks, so racing requests cannot overspend.
    A request from byte 0 counts a download (while any are left); a later start needs a counted one."""
    n = literal(length, BigInteger)
    fresh = start == 0
    counted = await s.execute(
        update(Share).where(Share.id == share_id, Share.revoked_at.is_(None), Share.expires_at > now,
                            Share.bytes_served + n <= Share.max_downloads * literal(size, BigInteger),
                            Share.downloads < Share.max_downloads if fresh else Share.downloads > 0)
        .values(bytes_served=Share.bytes_served + n, downloads=Share.downloads + (1 if fresh else 0))
        .returning(Share.id).execution_options(synchronize_session=False))
    return counted.scalar_one_or_none() is not None


async def give_back(s: AsyncSession, share_id: str, unsent: int) -> None:
    await s.execute(update(Share).where(Share.id == share_id)
                    .values(bytes_served=Share.bytes_served - literal(unsent, BigInteger)))


async def add_receipt(s: AsyncSession, receipt: ShareReceipt) -> None:
    s.add(receipt)
    await s.flush()


async def receipts_of(s: AsyncSession, share_ids: list[str]) -> list[ShareReceipt]:
    if not share_ids:
        return []
    q = select(ShareReceipt).where(ShareReceipt.share_id.in_(share_ids)).order_by(ShareReceipt.received_at,
                                                                                     ShareReceipt.id)
    return list((await s.execute(q)).scalars())


async def waiting_bundles(s: AsyncSession) -> list[Bundle]:
    """Bundles waiting for sources to come back from cold storage, locked for the restore poll."""
    q = select(Bundle).where(Bundle.status == BundleStatus.WAITING).order_by(Bundle.created_at).with_for_update()
    return list((await s.execute(q)).scalars())


async def current_outcome(s: AsyncSession, case_id: str) -> CaseOutcome | None:
    q = select(CaseOutcome).where(CaseOutcome.case_id == case_id, CaseOutcome.superseded_at.is_(None))
    return (await s.execute(q)).scalars().first()


async def outcome_history(s: AsyncSession, case_id: str) -> list[CaseOutcome]:
    q = select(CaseOutcome).where(CaseOutcome.case_id == case_id).order_by(CaseOutcome.recorded_at)
    return list((await s.execute(q)).scalars())


async def case_recording_ids(s: AsyncSession, case_id: str) -> list[str]:
    q = select(CaseItem.recording_id).where(CaseItem.case_id == case_id).distinct()
    return sorted((await s.execute(q)).scalars())
