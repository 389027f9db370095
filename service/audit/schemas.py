from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    roles: list[str]
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    ip: str | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


class VerifyResult(BaseModel):
    ok: bool
    events: int  # events read by this run
    first_bad_seq: int | None
    reason: str | None = None
    mode: str = "full"  # full | incremental
    from_seq: int = 1  # the first event this run read
    checkpoints: int = 0  # signed checkpoints the chain was held against
    latest_checkpoint_seq: int | None = None
    verification_id: str | None = None


class CheckpointOut(BaseModel):
    """A signed checkpoint of the chain head; nothing personal in it, so witnesses may keep copies."""

    seq: int
    hash: str
    at: datetime
    key_id: str
    alg: str = "Ed25519"
    signature: str  # base64 of the raw Ed25519 signature over the compact key-sorted JSON of {at, hash, key_id, seq}
    tsa_token: str | None = None  # base64 RFC 3161 reply, when a time-stamping authority is configured


B64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


class WitnessCheckpointIn(BaseModel):
    """A checkpoint a witness saved from ``GET /v1/audit/checkpoints/latest``, sent back as it was (``at``
    exactly as signed). Whether its signature verifies is the answer's business, not a 422."""

    model_config = ConfigDict(extra="allow")

    seq: int = Field(ge=1, le=2**53 - 1)  # exact in every JSON parser (a double); far above any real seq
    hash: str = Field(max_length=200)
    at: str = Field(max_length=100)
    key_id: str = Field(max_length=200)
    signature: str = Field(max_length=1000, pattern=B64)
    alg: str | None = Field(None, max_length=20)
    tsa_token: str | None = Field(None, max_length=100_000, pattern=B64)


class CheckpointPage(BaseModel):
    items: list[CheckpointOut]
    next_cursor: str | None
