from __future__ import annotations

from fastapi import APIRouter

from service.deps import ContextDep
from service.signing.schemas import KeyOut, KeysOut
from service.signing.service import public_keys

router = APIRouter(tags=["keys"])


@router.get("/v1/keys", response_model=KeysOut)
async def keys(ctx: ContextDep):
    """No login: the force's public signing keys (current first, then older ones that still verify)."""
    return KeysOut(keys=[KeyOut(key_id=k.key_id, public_key_pem=k.pem) for k in public_keys(ctx.signer)])
