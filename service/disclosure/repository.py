from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEvent
from service.disclosure.models import Bundle, Case, CaseItem, DoNotDisclose, Share
from service.recordings.models import Recording


async def get_case(s: AsyncSession, case_id: str, *, for_update: bool = False) -> Case | None:
    return await s.get(Case, case_id, with_for_update=for_update, populate_existing=True)


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
    return await s.get(DoNotDisclose, recording_id, with_for_update=for_update, populate_existing=True)


# --- Reads for the lists (newest first: ids are time-ordered, so "before this id" is the next page) ---

async def list_cases(s: AsyncSession, *, status: str | None, before: str | None, limit: int) -> list[Case]:
    q = select(Case)
    if status:
        q = q.where(Case.status == status)
    if before:
        q = q.where(Case.id < before)
    return list((await s.execute(q.order_by(Case.id.desc()).limit(limit))).scalars())


async def item_counts(s: AsyncSession, case_ids: list[str]) -> dict[str, int]:
    if not case_ids:
        return {}
    q = (select(CaseItem.case_id, func.count()).where(CaseItem.case_id.in_(case_ids))
         .group_by(CaseItem.case_id))
    return {cid: n for cid, n in (await s.execute(q)).all()}


async def case_bundles(s: AsyncSession, case_id: str, *, before: str | None, limit: int) -> list[Bundle]:
    q = select(Bundle).where(Bundle.case_id == case_id)
    if before:
        q = q.where(Bundle.id < before)
    return list((await s.execute(q.order_by(Bundle.id.desc()).limit(limit))).scalars())


async def case_bundle(s: AsyncSession, bundle_id: str) -> Bundle | None:
    q = select(Bundle).where(Bundle.id == bundle_id, Bundle.case_id.is_not(None))
    return (await s.execute(q)).scalars().first()


async def case_share(s: AsyncSession, share_id: str, *, for_update: bool = False) -> Share | None:
    q = select(Share).join(Bundle, Bundle.id == Share.bundle_id).where(Share.id == share_id,
                                                                        Bundle.case_id.is_not(None))
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
