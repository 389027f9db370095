"""CPS cases: exhibits are flagged as evidence (with the case URN) and held while the case is open;
closing releases the hold and leaves the flags. "Do not disclose" keeps a recording out of bundles.

Each function takes the caller's session and the acting person first and does the whole job (role
check, change, audit event) inside the caller's transaction; legal holds reach object storage once it
has committed (the retention service hands that to the edge)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.roles import DISCLOSURE_STAFF, SUPERVISORS, require
from service.auth.schemas import Principal
from service.context import Context
from service.disclosure import repository as repo
from service.disclosure.models import Case, CaseItem, CaseStatus, DoNotDisclose
from service.disclosure.naming import collision_key, exhibit_file_name
from service.disclosure.schemas import CaseIn, ItemIn
from service.errors import Conflict, NotFound
from service.ids import new_id
from service.recordings.access import check_clip, readable
from service.retention import service as retention
from service.retention.models import HoldKind
from service.retention.schemas import FlagIn
from service.timeutil import utcnow


async def get_case(s: AsyncSession, case_id: str, *, for_update: bool = False) -> Case:
    case = await repo.get_case(s, case_id, for_update=for_update)
    if case is None:
        raise NotFound(f"No case {case_id!r}.", slug="case-not-found")
    return case


async def _open_case(s: AsyncSession, case_id: str) -> Case:
    case = await get_case(s, case_id, for_update=True)
    if case.status != CaseStatus.OPEN:
        raise Conflict(f"Case {case.urn} is closed.", slug="case-closed")
    return case


async def create_case(s: AsyncSession, actor: Principal, ctx: Context, body: CaseIn) -> Case:
    require(actor, DISCLOSURE_STAFF)
    if await repo.case_by_urn(s, body.urn) is not None:
        raise Conflict(f"A case with URN {body.urn} already exists.", slug="duplicate-urn")
    hold, _ = await retention.place_hold(s, actor, ctx, kind=HoldKind.CASE, reference=body.urn,
                                         reason=f"CPS case {body.urn} is open", recording_ids=[])
    case = Case(id=new_id("case"), urn=body.urn, title=body.title, status=CaseStatus.OPEN, hold_id=hold.id,
                created_by=actor.sub, created_at=utcnow())
    s.add(case)
    await s.flush()
    await audit.record(s, actor, "case.created", "case", case.id, {"urn": case.urn, "title": case.title})
    return case


async def refuse_if_marked(s: AsyncSession, recording_id: str) -> None:
    mark = await repo.mark(s, recording_id)
    if mark is not None:
        raise Conflict(f"Recording {recording_id} is marked do-not-disclose ({mark.reason}); a supervisor must "
                       "lift the mark first.", slug="do-not-disclose")


async def _refuse_file_name_collision(s: AsyncSession, case: Case, exhibit_ref: str) -> None:
    """Runs under the case's row lock, so two racing references cannot both pass."""
    key = collision_key(exhibit_ref)
    other = next((r for r in await repo.exhibit_refs(s, case.id) if collision_key(r) == key), None)
    if other is not None:
        name = exhibit_file_name(exhibit_ref)
        raise Conflict(f"Exhibit reference {exhibit_ref} would be filed as {name} in the bundle, the file of "
                       f"exhibit {other} in case {case.urn} (file names ignore case and turn '/' into '-'); "
                       "choose another reference.", slug="exhibit-file-name-taken", exhibit_ref=exhibit_ref,
                       file=name, conflicts_with=other)


async def add_item(s: AsyncSession, actor: Principal, ctx: Context, case_id: str,
                   body: ItemIn) -> tuple[CaseItem, str]:
    """The new exhibit and its source's SHA-256."""
    require(actor, DISCLOSURE_STAFF)
    case = await _open_case(s, case_id)
    rec = await readable(s, actor, body.recording_id, for_update=True)
    await refuse_if_marked(s, rec.id)
    if await repo.item_by_ref(s, case.id, body.exhibit_ref) is not None:
        raise Conflict(f"Exhibit reference {body.exhibit_ref} is already used in case {case.urn}.",
                       slug="duplicate-exhibit-ref")
    await _refuse_file_name_collision(s, case, body.exhibit_ref)
    check_clip(rec, body.clip_end_s)
    flag = await retention.add_flag(
        s, actor, ctx, rec.id,
        FlagIn(category="evidence", reference=case.urn, reason=f"exhibit {body.exhibit_ref} in case {case.urn}",
               clip_start_s=body.clip_start_s, clip_end_s=body.clip_end_s), source=f"case:{case.id}")
    await retention.add_to_hold(s, ctx, case.hold_id, rec.id)
    item = CaseItem(id=new_id("itm"), case_id=case.id, recording_id=rec.id, exhibit_ref=body.exhibit_ref,
                    clip_start_s=body.clip_start_s, clip_end_s=body.clip_end_s, accurate=body.accurate,
                    flag_id=flag.id, added_by=actor.sub, added_at=utcnow())
    s.add(item)
    await s.flush()
    await audit.record(s, actor, "case.item_added", "recording", rec.id,
                       {"case_id": case.id, "urn": case.urn, "exhibit_ref": item.exhibit_ref,
                        "clip": [item.clip_start_s, item.clip_end_s], "accurate": item.accurate})
    return item, rec.sha256


async def close_case(s: AsyncSession, actor: Principal, ctx: Context, case_id: str, reason: str) -> Case:
    require(actor, DISCLOSURE_STAFF)
    case = await get_case(s, case_id, for_update=True)
    if case.status != CaseStatus.OPEN:
        raise Conflict(f"Case {case.urn} is already closed.", slug="case-closed")
    await retention.release_hold(s, actor, ctx, case.hold_id, f"case {case.urn} closed: {reason}", by_owner=True)
    case.status, case.closed_by, case.closed_at, case.close_reason = CaseStatus.CLOSED, actor.sub, utcnow(), reason
    await audit.record(s, actor, "case.closed", "case", case.id, {"urn": case.urn, "reason": reason})
    return case


async def mark_do_not_disclose(s: AsyncSession, actor: Principal, recording_id: str, reason: str) -> DoNotDisclose:
    require(actor, SUPERVISORS)
    rec = await readable(s, actor, recording_id, for_update=True)
    if await repo.mark(s, rec.id) is not None:
        raise Conflict(f"Recording {rec.id} is already marked do-not-disclose.", slug="already-marked")
    mark = DoNotDisclose(recording_id=rec.id, reason=reason, marked_by=actor.sub, marked_at=utcnow())
    s.add(mark)
    await audit.record(s, actor, "recording.do_not_disclose", "recording", rec.id, {"reason": reason})
    return mark


async def lift_do_not_disclose(s: AsyncSession, actor: Principal, recording_id: str, reason: str) -> None:
    require(actor, SUPERVISORS)
    rec = await readable(s, actor, recording_id, for_update=True)
    mark = await repo.mark(s, rec.id, for_update=True)
    if mark is None:
        raise Conflict(f"Recording {rec.id} is not marked do-not-disclose.", slug="not-marked")
    await s.delete(mark)
    await audit.record(s, actor, "recording.do_not_disclose_lifted", "recording", rec.id,
                       {"reason": reason, "was": mark.reason, "marked_by": mark.marked_by})
