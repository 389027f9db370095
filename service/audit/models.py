from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONType, UTCDateTime


class AuditEvent(Base):
    """One link of the hash chain. Never updated or deleted (PostgreSQL enforces it with a trigger)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    roles: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    object_type: Mapped[str] = mapped_column(String(50), nullable=False)
    object_id: Mapped[str] = mapped_column(String(100), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    ip: Mapped[str | None] = mapped_column(String(100))
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_audit_events_object", "object_id", "seq"),
        Index("ix_audit_events_actor", "actor", "seq"),
        Index("ix_audit_events_action", "action", "seq"),
        Index("ix_audit_events_at", "at"),
    )


class AuditHead(Base):
    """The chain's newest link, written with every append: removing the tail is then detectable too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditCheckpoint(Base):
    """A signed statement that the chain's event ``seq`` had hash ``hash`` at ``at`` (DESIGN.md rule 8).

    A copy of each is written once to object storage (``audit/checkpoints/<seq>.json``, S3 Object Lock
    COMPLIANCE): rows here are a convenience an insider can delete, the copies are the witnesses."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(String(128), nullable=False)  # base64 of the raw Ed25519 signature
    tsa_token: Mapped[str | None] = mapped_column(Text)  # base64 of the RFC 3161 reply, when BWV_TSA_URL is set


class VerificationMode(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"


class AuditVerification(Base):
    """The outcome of each verification run: where an incremental one may start (the newest checkpoint a
    successful run reached) and what the auditor's page shows. An insider who forges a row here only makes
    an incremental run start later; a full run ignores it."""

    __tablename__ = "audit_verifications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    mode: Mapped[str] = mapped_column(String(12), nullable=False)
    by: Mapped[str] = mapped_column(String(200), nullable=False)
    ok: Mapped[bool] = mapped_column(nullable=False)
    from_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    events: Mapped[int] = mapped_column(BigInteger, nullable=False)
    checkpoint_seq: Mapped[int | None] = mapped_column(BigInteger)
    first_bad_seq: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_audit_verifications_at", "at"),)
