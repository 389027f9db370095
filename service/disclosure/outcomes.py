"""A case's outcome decides how long its exhibits are kept (API.md "Retention lifecycle"; CPIA 1996 code
of practice 5.9-5.10, the rule itself in ``policies/retention.yaml`` ``case_outcomes``).

Recording the outcome of an open case ends the case's hold and closes it: from then its exhibits are kept
by their evidence flags under the outcome's rule, with a ``retain_until`` nothing deletes them before and
a review on that date. A correction (an appeal lodged late, one abandoned) supersedes the last outcome and
recomputes the dates; every change is audited with the actor and reason."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.roles import CASE_OUTCOME_RECORDERS, require
from service.auth.schemas import Principal
from service.context import Context
from service.disclosure import repository as repo
from service.disclosure.models import CaseOutcome, CaseStatus
from service.disclosure.schemas import OutcomeIn
from service.disclosure.service import get_case
from service.errors import Invalid
from service.ids import new_id
from service.retention import rules
from service.retention import service as retention
from service.timeutil import utcnow


async def record_outcome(s: AsyncSession, actor: Principal, ctx: Context, case_id: str,
                         body: OutcomeIn) -> CaseOutcome:
    require(actor, CASE_OUTCOME_RECORDERS)
    case = await get_case(s, case_id, for_update=True)
    now = utcnow()
    if body.decided_at > now:
        raise Invalid("decided_at is in the future; record an outcome once it is decided.", slug="outcome-in-future")
    policy = ctx.policies.retention
    previous = await repo.current_outcome(s, case.id)
    if previous is not None:
        previous.superseded_at = now
    row = CaseOutcome(id=new_id("out"), case_id=case.id, outcome=body.outcome, decided_at=body.decided_at,
                      custody_release_at=body.custody_release_at, appeal_until=body.appeal_until,
                      reason=body.reason, recorded_by=actor.sub, recorded_at=now)
    s.add(row)
    await s.flush()
    retain_until, review_at = rules.outcome_dates(policy, row.outcome, decided_at=row.decided_at,
                                                  custody_release_at=row.custody_release_at,
                                                  appeal_until=row.appeal_until)
    await audit.record(s, actor, "case.outcome_recorded" if previous is None else "case.outcome_corrected",
                       "case", case.id,
                       {"urn": case.urn, "outcome": row.outcome, "decided_at": row.decided_at,
                        "custody_release_at": row.custody_release_at, "appeal_until": row.appeal_until,
                        "reason": row.reason, "retain_until": retain_until, "review_at": review_at,
                        "was": None if previous is None else
                        {"outcome": previous.outcome, "appeal_until": previous.appeal_until,
                         "custody_release_at": previous.custody_release_at}})
    ids = await repo.case_recording_ids(s, case.id)
    if case.status == CaseStatus.OPEN:
        # The outcome's rule replaces the open case's hold (release_hold recomputes every exhibit).
        await retention.release_hold(s, actor, ctx, case.hold_id,
                                     f"case {case.urn} decided: {row.outcome}", by_owner=True)
        case.status, case.closed_by, case.closed_at = CaseStatus.CLOSED, actor.sub, now
        case.close_reason = f"outcome recorded: {row.outcome}"
        await audit.record(s, actor, "case.closed", "case", case.id, {"urn": case.urn, "reason": case.close_reason})
    else:
        await retention.refresh(s, policy, ids)
        retention.sync_after_commit(s, ctx, ids)
    return row


async def outcome_view(s: AsyncSession, ctx: Context, case_id: str) -> tuple[CaseOutcome | None, dict]:
    """The current outcome and the retention it gives the exhibits (for ``GET /v1/cases/{id}``)."""
    row = await repo.current_outcome(s, case_id)
    if row is None:
        return None, {"rule": None, "retain_until": None, "review_at": None}
    until, review_at = rules.outcome_dates(ctx.policies.retention, row.outcome, decided_at=row.decided_at,
                                           custody_release_at=row.custody_release_at, appeal_until=row.appeal_until)
    return row, {"rule": f"retention.yaml case_outcomes.{row.outcome}", "retain_until": until, "review_at": review_at}
