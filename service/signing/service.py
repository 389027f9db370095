"""What the signing domain offers the others: the public keys, and signing a document's exact bytes."""

from __future__ import annotations

import base64

from service.signing.keys import PublicKey, Signer


def public_keys(signer: Signer) -> list[PublicKey]:
    """Public: anyone may hold the keys that verify the force's signatures."""
    return signer.keys()


def sign_b64(signer: Signer, data: bytes) -> str:
    return base64.b64encode(signer.sign(data)).decode()
