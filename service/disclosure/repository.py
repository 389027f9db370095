from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.disclosure.models import Case, CaseItem, DoNotDisclose


async def get_case(s: AsyncSession, case_id: str, *, for_update: bool = False) -> Case | None:
    return await s.get(Case, case_id, with_for_update=for_update, populate_existing=True)


async def case_by_urn(s: AsyncSession, urn: str) -> Case | None:
    return (await s.execute(select(Case).where(Case.urn == urn))).scalars().first()


async def items(s: AsyncSession, case_id: str) -> list[CaseItem]:
    q = select(CaseItem).where(CaseItem.case_id == case_id).order_by(CaseItem.added_at, CaseItem.id)
    return list((await s.execute(q)).scalars())


async def item_by_ref(s: AsyncSession, case_id: str, exhibit_ref: str) -> CaseItem | None:
    q = select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.exhibit_ref == exhibit_ref)
    return (await s.execute(q)).scalars().first()


async def mark(s: AsyncSession, recording_id: str, *, for_update: bool = False) -> DoNotDisclose | None:
    return await s.get(DoNotDisclose, recording_id, with_for_update=for_update, populate_existing=True)
