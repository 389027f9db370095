"""Reads for the disclosure lists: cases, a case's bundles, a bundle's shares and a share's access log.

Exhibits are listed through the recordings' readable statement: an exhibit restricted away from the
caller after it was added is held and flagged all the same, but neither listed nor counted for them.

The access log is not a table of its own: the audit already records every use of a link (refused
ones too) in the same transaction as the download count, so it is read from there and cannot disagree.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEvent
from service.auth.roles import CASE_READERS, DISCLOSURE_STAFF, require
from service.auth.schemas import Principal
from service.context import Context
from service.disclosure import outcomes, shares
from service.disclosure import repository as repo
from service.disclosure.models import CaseStatus
from service.disclosure.schemas import (
    BundleOut,
    CaseOut,
    CaseSummaryOut,
    ReceiptOut,
    ShareAccessOut,
    ShareDetailOut,
    ShareInfoOut,
)
from service.disclosure.service import get_case
from service.paging import Page, PageParams, after_id, cut
from service.timeutil import utcnow

ACCESS_LOG_LIMIT = 200  # a dead link can be tried without end; the page needs the latest, the count says the rest


async def list_cases(s: AsyncSession, viewer: Principal, page: PageParams, *,
                     status: CaseStatus | None = None) -> Page[CaseSummaryOut]:
    """Newest first, each with the number of its exhibits *viewer* may see (supervisors too: they review
    the exhibits of decided cases)."""
    require(viewer, CASE_READERS)
    rows = await repo.list_cases(s, status=status, before=after_id(page), limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda c: [c.id])
    counts = await repo.visible_item_counts(s, viewer, [c.id for c in rows])
    return Page[CaseSummaryOut](items=[CaseSummaryOut.of(c, counts.get(c.id, 0)) for c in rows], next_cursor=nxt)


async def case_view(s: AsyncSession, viewer: Principal, case_id: str, ctx: Context | None = None) -> CaseOut:
    """A case, the exhibits *viewer* may see, each with its source's SHA-256, and its outcome with the
    retention that gives (with ``ctx``). Supervisors read cases too: they review the exhibits."""
    require(viewer, CASE_READERS)
    case = await get_case(s, case_id)
    items = await repo.visible_items(s, viewer, case_id)
    outcome, retention = (await outcomes.outcome_view(s, ctx, case_id)) if ctx is not None else (None, None)
    return CaseOut.of(case, items, await repo.recording_hashes(s, [i.recording_id for i in items]),
                      outcome=outcome, retention=retention)


async def case_bundles(s: AsyncSession, viewer: Principal, case_id: str, page: PageParams) -> Page[BundleOut]:
    """The bundles built (or being built) from a case, newest first."""
    require(viewer, DISCLOSURE_STAFF)
    await get_case(s, case_id)
    rows = await repo.case_bundles(s, case_id, before=after_id(page), limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda b: [b.id])
    return Page[BundleOut](items=[BundleOut.of(b) for b in rows], next_cursor=nxt)


async def get_bundle(s: AsyncSession, viewer: Principal, bundle_id: str) -> BundleOut:
    require(viewer, DISCLOSURE_STAFF)
    return BundleOut.of(await shares.case_bundle(s, bundle_id))


async def bundle_shares(s: AsyncSession, viewer: Principal, bundle_id: str, page: PageParams) -> Page[ShareInfoOut]:
    """A bundle's links, newest first, with their state; never their URLs (only a hash is kept)."""
    require(viewer, DISCLOSURE_STAFF)
    bundle = await shares.case_bundle(s, bundle_id)  # a SAR's bundle answers 404 here
    rows = await repo.bundle_shares(s, bundle_id, before=after_id(page), limit=page.limit + 1)
    rows, nxt = cut(rows, page, lambda sh: [sh.id])
    now = utcnow()
    return Page[ShareInfoOut](items=[ShareInfoOut.of(sh, shares.state(sh, now, bundle.size_bytes)) for sh in rows],
                              next_cursor=nxt)


def _access(e: AuditEvent) -> ShareAccessOut:
    rng = e.details.get("range")
    if e.action == "share.refused":
        outcome = "refused"
    else:
        outcome = "resumed" if rng and rng[0] > 0 else "downloaded"
    return ShareAccessOut(at=e.at, ip=e.ip, user_agent=e.details.get("user_agent"), outcome=outcome,
                          reason=e.details.get("why"), range=rng)


async def share_detail(s: AsyncSession, viewer: Principal, share_id: str) -> ShareDetailOut:
    require(viewer, DISCLOSURE_STAFF)
    share = await shares.case_share(s, share_id)
    size = (await repo.get_bundle(s, share.bundle_id)).size_bytes
    events = await repo.share_accesses(s, share, limit=ACCESS_LOG_LIMIT)
    total = await repo.count_share_accesses(s, share)
    info = ShareInfoOut.of(share, shares.state(share, utcnow(), size))
    receipts = [ReceiptOut.of(r) for r in await repo.receipts_of(s, [share.id])]
    return ShareDetailOut(**info.model_dump(), accesses=[_access(e) for e in events], accesses_total=total,
                          receipts=receipts)
