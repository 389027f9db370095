from __future__ import annotations

from pydantic import BaseModel


class KeyOut(BaseModel):
    key_id: str  # SHA-256 (hex) of the DER SubjectPublicKeyInfo
    alg: str = "Ed25519"
    public_key_pem: str


class KeysOut(BaseModel):
    keys: list[KeyOut]
