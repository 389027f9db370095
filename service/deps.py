"""Request dependencies, as ``Annotated`` types: the process's Context, one transaction per request, and
who is asking.

The transaction opens here, at the edge, once per request: an endpoint takes ``SessionDep`` and hands it
to a service function, which does the whole job (authorisation, change, audit event) and never commits.
The session commits after the endpoint returns and before the response is sent (``scope="function"``),
so a client never sees an answer for a change that did not happen; any exception rolls it back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.endpoints import current_principal
from service.auth.schemas import Principal
from service.context import Context
from service.db import transaction


def get_context(request: Request) -> Context:
    return request.app.state.ctx


ContextDep = Annotated[Context, Depends(get_context)]


async def get_session(ctx: ContextDep) -> AsyncIterator[AsyncSession]:
    async with transaction(ctx.sessions) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
