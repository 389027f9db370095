"""Signed checkpoints of the audit chain (DESIGN.md rule 8).

A checkpoint says, under the force's Ed25519 key, that event ``seq`` of the chain had hash ``hash`` at
``at``. The signed bytes are the compact, key-sorted JSON of ``{"at", "hash", "key_id", "seq"}`` (see
:func:`message`), so a witness (a Police and Crime Commissioner, the IOPC) can check a saved copy with
OpenSSL alone. Each is stored in the database and written once to object storage at
``audit/checkpoints/<seq>.json`` (S3: Object Lock COMPLIANCE retention; local disk: a read-only file the
service never rewrites). The stored copies, not the rows, are what verification trusts.

Checkpoint makers take a lock of their own (appends never wait for one), so one head gets one checkpoint
however many workers try.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import repository as repo
from service.audit.models import AuditCheckpoint
from service.auth.roles import Role, require
from service.auth.schemas import Principal
from service.signing.keys import ALG, Signer
from service.signing.tsa import TimeStamper
from service.storage import ObjectStore
from service.timeutil import iso, utcnow

PREFIX = "audit/checkpoints/"
# Who may ask for a checkpoint: an operator (`bwv audit checkpoint`) and the service's own jobs.
MAKERS = (Role.ADMIN, "system")


def storage_key(seq: int) -> str:
    return f"{PREFIX}{seq:012d}.json"


def seq_of_key(key: str) -> int | None:
    name = key.rsplit("/", 1)[-1]
    stem = name.removesuffix(".json")
    return int(stem) if name.endswith(".json") and stem.isdigit() else None


def message(seq: int, hash_: str, at: str, key_id: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return json.dumps({"at": at, "hash": hash_, "key_id": key_id, "seq": seq}, sort_keys=True,
                      separators=(",", ":")).encode()


def document(cp: AuditCheckpoint) -> dict[str, Any]:
    """The public form of a checkpoint (nothing personal in it): what storage keeps and witnesses save."""
    doc = {"seq": cp.seq, "hash": cp.hash, "at": iso(cp.at), "key_id": cp.key_id, "alg": ALG,
           "signature": cp.signature,
           "signed_bytes": 'compact key-sorted JSON of {"at","hash","key_id","seq"}'}
    if cp.tsa_token:
        doc["tsa_token"] = cp.tsa_token
    return doc


@dataclass(frozen=True)
class Claim:
    """A checkpoint as read back from somewhere (database, storage, a witness's file)."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: bytes
    source: str
    tsa_token: bytes | None = None

    @classmethod
    def parse(cls, doc: Any, source: str) -> Claim:
        try:
            seq, hash_, at, key_id = int(doc["seq"]), str(doc["hash"]), str(doc["at"]), str(doc["key_id"])
            sig = base64.b64decode(doc["signature"], validate=True)
            token = base64.b64decode(doc["tsa_token"], validate=True) if doc.get("tsa_token") else None
        except (KeyError, TypeError, ValueError, binascii.Error) as e:
            raise ValueError(f"not a checkpoint document ({type(e).__name__}: {e})") from None
        if not 1 <= seq < 2**63:  # an event's seq: a BIGINT from 1
            raise ValueError(f"not a checkpoint document (seq {seq} is out of range)")
        return cls(seq, hash_, at, key_id, sig, source, token)

    @property
    def message(self) -> bytes:
        return message(self.seq, self.hash, self.at, self.key_id)

    @classmethod
    def of_row(cls, cp: AuditCheckpoint) -> Claim:
        return cls.parse(document(cp), "database")

    def problem(self, signer: Signer) -> str | None:
        """Why this claim cannot be trusted, or None when the force's key (current or older) signed it."""
        key = signer.key(self.key_id)
        if key is None:
            return f"checkpoint {self.seq} ({self.source}) names key {self.key_id[:16]}…, which is not the force's"
        if not key.verify(self.signature, self.message):
            return f"checkpoint {self.seq} ({self.source}) has a signature that does not verify"
        return None


async def make(s: AsyncSession, actor: Principal, signer: Signer, store: ObjectStore, *,
               retain_days: int, stamper: TimeStamper | None = None) -> AuditCheckpoint | None:
    """Sign the chain's head now, unless it already has a checkpoint (then that one). None when the chain
    is empty, or when storage already holds a copy for this head that the database has lost: that copy is
    never overwritten, and verification reports the missing row."""
    require(actor, MAKERS)
    # Not the chain lock: appends go on while a checkpoint is signed and stored. The head read is a
    # committed one (seq and hash written together), so the checkpoint covers events that are durable.
    await repo.lock_checkpoints(s)
    head = await repo.get_head(s)
    if head is None:
        return None
    existing = await repo.get_checkpoint(s, head.seq)
    if existing is not None:
        return existing
    key = storage_key(head.seq)
    if await store.head(key) is not None:
        return None
    at = utcnow().replace(microsecond=0)
    msg = message(head.seq, head.hash, iso(at), signer.key_id)
    cp = AuditCheckpoint(seq=head.seq, hash=head.hash, at=at, key_id=signer.key_id,
                         signature=base64.b64encode(signer.sign(msg)).decode())
    if stamper is not None:
        cp.tsa_token = base64.b64encode(await stamper.stamp(msg)).decode()
    # Written before the row commits: a row never exists without its write-once copy.
    await store.put_bytes(key, json.dumps(document(cp), indent=2).encode(), content_type="application/json")
    await store.extend_retention(key, at + timedelta(days=retain_days))
    path = await store.local_path(key)
    if path is not None:
        os.chmod(path, 0o400)
    await repo.add_checkpoint(s, cp)
    return cp


async def stored(store: ObjectStore, *, from_seq: int = 0) -> tuple[list[int], dict[int, Claim | str]]:
    """Every checkpoint seq in storage, and the copies at or after *from_seq* read back (or why not)."""
    seqs = sorted(n for n in (seq_of_key(o.key) for o in await store.list(PREFIX)) if n is not None)
    claims: dict[int, Claim | str] = {}
    for seq in seqs:
        if seq < from_seq:
            continue
        data = b"".join([c async for c in store.read(storage_key(seq))])
        try:
            claims[seq] = Claim.parse(json.loads(data), "storage")
        except ValueError as e:
            claims[seq] = f"checkpoint {seq}'s copy in storage is unreadable: {e}"
    return seqs, claims


