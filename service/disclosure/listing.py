"""Reads for the disclosure lists: cases, a case's bundles, a bundle's shares and a share's access log.

Exhibits are listed through the recordings' readable statement: an exhibit restricted away from the
caller after it was added is held and flagged all the same, but neither listed nor counted for them.

The access log is not a table of its own: the audit already records every use of a link (refused
ones too) in the same transaction as the download count, so it is read from there and cannot disagree.
"""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEvent
from service.auth.schemas import Principal
from service.context import Context
from service.disclosure import repository as repo
from service.disclosure import shares
from service.disclosure.models import Bundle, Case, CaseItem
from service.disclosure.schemas import ShareAccessOut, ShareDetailOut, ShareInfoOut
from service.errors import NotFound
from service.recordings.models import Recording
from service.recordings.repository import readable_by
from service.timeutil import utcnow

ACCESS_LOG_LIMIT = 200  # a dead link can be tried without end; the page needs the latest, the count says the rest


def _exhibit_visible(viewer: Principal):
    return exists().where(Recording.id == CaseItem.recording_id, readable_by(viewer))


def exhibits_of(case_id: str):
    """The recordings that are exhibits of this case (a bundle carries them out)."""
    return exists().where(CaseItem.case_id == case_id, CaseItem.recording_id == Recording.id)


async def _visible_items(s: AsyncSession, viewer: Principal, case_id: str) -> list[CaseItem]:
    q = (select(CaseItem).where(CaseItem.case_id == case_id, _exhibit_visible(viewer))
         .order_by(CaseItem.added_at, CaseItem.id))
    return list((await s.execute(q)).scalars())


async def list_cases(ctx: Context, viewer: Principal, *, status: str | None, before: str | None,
                     limit: int) -> list[tuple[Case, int]]:
    """Cases, each with the number of its exhibits *viewer* may see."""
    async with ctx.sessions() as s:
        rows = await repo.list_cases(s, status=status, before=before, limit=limit)
        counts: dict[str, int] = {}
        if rows:
            q = (select(CaseItem.case_id, func.count())
                 .where(CaseItem.case_id.in_([c.id for c in rows]), _exhibit_visible(viewer))
                 .group_by(CaseItem.case_id))
            counts = {cid: int(n) for cid, n in (await s.execute(q)).all()}
    return [(c, counts.get(c.id, 0)) for c in rows]


async def case_view(ctx: Context, viewer: Principal, case_id: str) -> tuple[Case, list[CaseItem], dict[str, str]]:
    """A case, the exhibits *viewer* may see, and each one's source SHA-256 (by recording id)."""
    async with ctx.sessions() as s:
        case = await repo.get_case(s, case_id)
        if case is None:
            raise NotFound(f"No case {case_id!r}.", slug="case-not-found")
        items = await _visible_items(s, viewer, case_id)
        return case, items, await repo.recording_hashes(s, [i.recording_id for i in items])


async def case_bundles(ctx: Context, case_id: str, *, before: str | None, limit: int) -> list[Bundle]:
    async with ctx.sessions() as s:
        if await repo.get_case(s, case_id) is None:
            raise NotFound(f"No case {case_id!r}.", slug="case-not-found")
        return await repo.case_bundles(s, case_id, before=before, limit=limit)


async def bundle_shares(ctx: Context, bundle_id: str, *, before: str | None, limit: int) -> list[ShareInfoOut]:
    async with ctx.sessions() as s:
        bundle = await shares.case_bundle(s, bundle_id)  # a SAR's bundle answers 404 here
        rows = await repo.bundle_shares(s, bundle_id, before=before, limit=limit)
    now = utcnow()
    return [ShareInfoOut.of(sh, shares.state(sh, now, bundle.size_bytes)) for sh in rows]


def _access(e: AuditEvent) -> ShareAccessOut:
    rng = e.details.get("range")
    if e.action == "share.refused":
        outcome = "refused"
    else:
        outcome = "resumed" if rng and rng[0] > 0 else "downloaded"
    return ShareAccessOut(at=e.at, ip=e.ip, user_agent=e.details.get("user_agent"), outcome=outcome,
                     reason=e.details.get("why"), range=rng)


async def share_detail(ctx: Context, share_id: str) -> ShareDetailOut:
    async with ctx.sessions() as s:
        share = await shares.case_share(s, share_id)
        size = (await s.get(Bundle, share.bundle_id)).size_bytes
        events = await repo.share_accesses(s, share, limit=ACCESS_LOG_LIMIT)
        total = await repo.count_share_accesses(s, share)
    info = ShareInfoOut.of(share, shares.state(share, utcnow(), size))
    return ShareDetailOut(**info.model_dump(), accesses=[_access(e) for e in events], accesses_total=total)
