"""The signing key: generated once (0600) into the data dir, key_id = SHA-256 of the DER public key, a configured
key that is missing or not Ed25519 is a one-line configuration error, and after a rotation older signatures
still verify through the keyring while a stranger's never do."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.audit.checkpoints import Claim, message
from service.config import ConfigError
from service.signing.keys import load_signer


def _claim(signer, seq: int = 7) -> Claim:
    at, h = "2026-12-03T08:00:00Z", "ab" * 32
    sig = base64.b64encode(signer.sign(message(seq, h, at, signer.key_id))).decode()
    return Claim.parse({"seq": seq, "hash": h, "at": at, "key_id": signer.key_id, "signature": sig}, "test")


def test_generated_once_private_and_fingerprinted(tmp_path) -> None:
    a = load_signer(None, tmp_path)
    b = load_signer(None, tmp_path)
    assert a.key_id == b.key_id
    key_file = tmp_path / "signing-key.pem"
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    der = subprocess.run(["openssl", "pkey", "-in", str(key_file), "-pubout", "-outform", "DER"], capture_output=True,
                         check=True).stdout
    assert hashlib.sha256(der).hexdigest() == a.key_id


def test_a_bad_configured_key_is_a_configuration_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_signer(tmp_path / "missing.pem", tmp_path)
    rsa = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", str(rsa)],
                   check=True, capture_output=True)
    with pytest.raises(ConfigError, match="not an Ed25519 key"):
        load_signer(rsa, tmp_path)


def test_after_a_rotation_old_checkpoints_verify_and_a_strangers_do_not(tmp_path) -> None:
    old = load_signer(None, tmp_path)
    signed_before = _claim(old)
    new_key = tmp_path / "new.pem"
    new_key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    new = load_signer(new_key, tmp_path)
    assert new.key_id != old.key_id and [k.key_id for k in new.keys()][0] == new.key_id
    assert signed_before.problem(new) is None and _claim(new).problem(new) is None
    stranger = load_signer(None, tmp_path / "elsewhere")
    assert "not the force's" in _claim(stranger).problem(new)
    forged = Claim(**{**_claim(old).__dict__, "hash": "cd" * 32})
    assert "does not verify" in forged.problem(new)
