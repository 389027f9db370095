"""The hash function of the chain. Kept apart so verification and appending cannot drift."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from service.timeutil import iso

GENESIS = "0" * 64


def canonical(seq: int, at: datetime, actor: str, roles: list[str], action: str, object_type: str,
              object_id: str, details: dict[str, Any], ip: str | None, prev_hash: str) -> bytes:
    doc = {"seq": seq, "at": iso(at), "actor": actor, "roles": sorted(roles), "action": action,
           "object_type": object_type, "object_id": object_id, "details": details, "ip": ip,
           "prev_hash": prev_hash}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def event_hash(**fields: Any) -> str:
    return hashlib.sha256(canonical(**fields)).hexdigest()
