"""Reads for the disclosure lists: cases, a case's bundles, a bundle's shares and a share's access log.

The access log is not a table of its own: the audit already records every use of a link (refused
ones too) in the same transaction as the download count, so it is read from there and cannot disagree.
"""

from __future__ import annotations

from service.audit.models import AuditEvent
from service.context import Context
from service.disclosure import repository as repo
from service.disclosure import shares
from service.disclosure.models import Bundle, Case, Share
from service.disclosure.schemas import ShareAccessOut, ShareDetailOut, ShareInfoOut
from service.errors import NotFound
from service.timeutil import utcnow

ACCESS_LOG_LIMIT = 200  # a dead link can be tried without end; the page needs the latest, the count says the rest


async def list_cases(ctx: Context, *, status: str | None, before: str | None,
                     limit: int) -> list[tuple[Case, int]]:
    async with ctx.sessions() as s:
        rows = await repo.list_cases(s, status=status, before=before, limit=limit)
        counts = await repo.item_counts(s, [c.id for c in rows])
    return [(c, counts.get(c.id, 0)) for c in rows]


async def case_bundles(ctx: Context, case_id: str, *, before: str | None, limit: int) -> list[Bundle]:
    async with ctx.sessions() as s:
        if await repo.get_case(s, case_id) is None:
            raise NotFound(f"No case {case_id!r}.", slug="case-not-found")
        return await repo.case_bundles(s, case_id, before=before, limit=limit)


async def bundle_shares(ctx: Context, bundle_id: str, *, before: str | None, limit: int) -> list[ShareInfoOut]:
    async with ctx.sessions() as s:
        if await s.get(Bundle, bundle_id) is None:
            raise NotFound(f"No bundle {bundle_id!r}.", slug="bundle-not-found")
        rows = await repo.bundle_shares(s, bundle_id, before=before, limit=limit)
    now = utcnow()
    return [ShareInfoOut.of(sh, shares.state(sh, now)) for sh in rows]


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
        share = await s.get(Share, share_id)
        if share is None:
            raise NotFound(f"No share {share_id!r}.", slug="share-not-found")
        events = await repo.share_accesses(s, share, limit=ACCESS_LOG_LIMIT)
        total = await repo.count_share_accesses(s, share)
    info = ShareInfoOut.of(share, shares.state(share, utcnow()))
    return ShareDetailOut(**info.model_dump(), accesses=[_access(e) for e in events], accesses_total=total)
