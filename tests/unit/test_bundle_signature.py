"""Any single change to any byte of manifest.json fails `bwv bundle verify --key` (a property), and the
bundle verifies while untouched."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from service.disclosure.verify import verify_bundle
from service.signing.keys import Signer

SIGNER = Signer(Ed25519PrivateKey.generate())
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
MANIFEST = json.dumps({"bundle_id": "bdl_x", "case": {"urn": "URN-1", "title": "R v Jones"},
                       "exhibits": [{"exhibit_ref": "JS/1", "file": "JS-1.mp4",
                                     "sha256": hashlib.sha256(CLIP).hexdigest()}],
                       "audit_checkpoint": {"seq": 42, "hash": "ab" * 32}, "key_id": SIGNER.key_id,
                       "signature": "manifest.sig"}, indent=2).encode()


def _bundle(manifest: bytes) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("JS-1.mp4", CLIP)
        z.writestr("manifest.json", manifest)
        z.writestr("manifest.sig", SIGNER.sign(MANIFEST))  # always the signature of the original bytes
        z.writestr("signing-key.pem", SIGNER.public_pem)
    path = Path(tempfile.mkdtemp(prefix="bwv-sig-")) / "bundle.zip"
    path.write_bytes(buf.getvalue())
    return path


def test_the_untouched_bundle_verifies_under_the_trusted_key() -> None:
    v = verify_bundle(_bundle(MANIFEST), trusted_key=SIGNER.public_pem.encode())
    assert v.ok and v.signature_trusted, v.problems


@settings(max_examples=200, deadline=None)
@given(at=st.integers(min_value=0, max_value=len(MANIFEST) - 1), flip=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_the_manifest_fails(at: int, flip: int) -> None:
    changed = bytearray(MANIFEST)
    changed[at] ^= flip
    v = verify_bundle(_bundle(bytes(changed)), trusted_key=SIGNER.public_pem.encode())
    assert not v.ok and not v.signature_trusted
