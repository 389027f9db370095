"""Console: ask for a cold recording back from its page (the same service as POST /v1/recordings/{id}/restore,
as the signed-in person)."""

from __future__ import annotations

from fastapi import Depends, Request

from service.auth.schemas import Principal
from service.coldtier import service as coldtier
from service.deps import ContextDep, SessionDep
from service.web.deps import signed_in
from service.web.render import console_router, done

router = console_router()
restorer = signed_in(*coldtier.RESTORERS)


@router.post("/ui/recordings/{recording_id}/restore")
async def restore(request: Request, s: SessionDep, ctx: ContextDep, recording_id: str,
                  me: Principal = Depends(restorer)):
    await coldtier.request_restore(s, me, ctx, recording_id)
    return done(f"/ui/recordings/{recording_id}",
                "Restore from cold storage requested. The footage can be played once it is back "
                f"(archive storage can take hours); it then stays readable for {ctx.settings.cold_restore_days} days.")
