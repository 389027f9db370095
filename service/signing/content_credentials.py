"""Content credentials (C2PA) on disclosed clips: each clip carries a C2PA manifest signed with the force's
certificate (``BWV_C2PA_CERT``: the chain, PEM, end-entity first; ``BWV_C2PA_KEY``: its PKCS#8 PEM key),
naming the source recording (its SHA-256 as the ingredient's ``instance_id``, ``urn:sha256:…``) and what was
done to it (opened, then trimmed or re-encoded or redacted). Any C2PA reader (c2pa-python's ``Reader``,
``c2patool``, the Content Authenticity Initiative's verify site) shows who made the clip from what.

The manifest is embedded in the MP4 (a ``uuid`` box), so the clip's SHA-256 in the bundle manifest is taken
after signing. c2pa-python ships its native library; it is imported only when credentials are configured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from service.config import ConfigError

GENERATOR = {"name": "bodycam", "version": "0.1.0"}


@dataclass(frozen=True)
class ContentCredentials:
    cert_pem: bytes
    key_pem: bytes
    alg: str  # a c2pa.C2paSigningAlg name

    def sign_clip(self, path: str, *, title: str, source_id: str, source_sha256: str,
                  actions: list[dict]) -> None:
        """Embed a signed manifest into the MP4 at *path* (replaced atomically)."""
        import c2pa

        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(getattr(c2pa.C2paSigningAlg, self.alg), self.cert_pem,
                                                          self.key_pem, None))
        manifest = {
            "claim_generator_info": [GENERATOR], "title": title, "format": "video/mp4",
            "ingredients": [{"title": source_id, "format": "video/mp4", "relationship": "parentOf",
                             "instance_id": f"urn:sha256:{source_sha256}", "label": "source"}],
            "assertions": [
                {"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.opened", "parameters": {"ingredientIds": ["source"]}}, *actions]}},
                {"label": "dev.bodycam.source", "data": {"source_recording_id": source_id,
                                                         "source_sha256": source_sha256}},
            ],
        }
        out = f"{path}.c2pa"
        try:
            with c2pa.Builder(manifest) as builder, open(path, "rb") as src, open(out, "w+b") as dst:
                builder.sign(signer, "video/mp4", src, dst)
            os.replace(out, path)
        finally:
            signer.close()
            if os.path.exists(out):
                os.unlink(out)


def _alg(key_pem: bytes) -> str:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ED25519"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    if isinstance(key, rsa.RSAPrivateKey):
        return "PS256"
    raise ValueError(f"unsupported key type {type(key).__name__}")


def load_credentials(cert: Path | None, key: Path | None) -> ContentCredentials | None:
    """The force's C2PA credentials, or None when not configured (clips then carry none)."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("BWV_C2PA_CERT and BWV_C2PA_KEY are set together or not at all")
    try:
        cert_pem, key_pem = cert.read_bytes(), key.read_bytes()
        alg = _alg(key_pem)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ConfigError(f"BWV_C2PA_CERT/BWV_C2PA_KEY unusable: {e}") from None
    return ContentCredentials(cert_pem, key_pem, alg)
