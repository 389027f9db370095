"""The force's Ed25519 signing key (DESIGN.md rule 8): it signs audit checkpoints, bundle manifests and
receipts. It lives in a file (``BWV_SIGNING_KEY_FILE``, a mounted secret in production; generated once,
0600, into ``$BWV_DATA_DIR`` in embedded mode), never in the database, so an insider with the database
cannot sign.

``key_id`` is the SHA-256 of the public key's DER SubjectPublicKeyInfo: anyone holding the PEM can
recompute it (``openssl pkey -pubin -in force.pem -outform DER | sha256sum``). Every public key the
service has signed with is kept in ``$BWV_DATA_DIR/signing-keys/<key_id>.pem`` (and may be added there
by an operator), so checkpoints and bundles signed before a rotation still verify.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.config import ConfigError
from service.files import private_dir

ALG = "Ed25519"
KEYRING_DIR = "signing-keys"
DEFAULT_KEY_FILE = "signing-key.pem"


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id_of(key: Ed25519PublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_public_pem(pem: str | bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def verify_signature(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    pem: str

    @property
    def key(self) -> Ed25519PublicKey:
        return load_public_pem(self.pem)

    def verify(self, signature: bytes, data: bytes) -> bool:
        return verify_signature(self.key, signature, data)


class Signer:
    """The private key, and the keyring of every public key that verifies the force's signatures."""

    def __init__(self, private: Ed25519PrivateKey, keyring_dir: Path | None = None):
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id_of(self.public)
        self.public_pem = public_pem(self.public)
        self._keyring_dir = keyring_dir
        if keyring_dir is not None:
            _publish(keyring_dir, self.key_id, self.public_pem)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def keys(self) -> list[PublicKey]:
        """The current key first, then every older one kept in the keyring."""
        found = {self.key_id: PublicKey(self.key_id, self.public_pem)}
        if self._keyring_dir is not None and self._keyring_dir.is_dir():
            for p in sorted(self._keyring_dir.glob("*.pem")):
                try:
                    key = load_public_pem(p.read_bytes())
                except ValueError:
                    continue  # not a key of ours: ignored, never trusted
                kid = key_id_of(key)
                found.setdefault(kid, PublicKey(kid, public_pem(key)))
        return list(found.values())

    def key(self, key_id: str) -> PublicKey | None:
        return next((k for k in self.keys() if k.key_id == key_id), None)


def _publish(keyring: Path, key_id: str, pem: str) -> None:
    path = keyring / f"{key_id}.pem"
    if path.exists():
        return
    try:
        private_dir(keyring)
    except OSError:
        return  # a read-only mounted keyring: the current key is known anyway
    tmp = keyring / f".{key_id}.{os.getpid()}.tmp"
    try:  # 0600 like every file the service writes (API.md), though a public key is no secret
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        os.replace(tmp, path)
    except OSError:
        return


def generate_key_file(path: Path) -> None:
    """A new Ed25519 key at *path* (0600), unless one is there: two processes starting together keep one."""
    private_dir(path.parent)
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load_signer(key_file: Path | None, data_dir: Path, keyring_dir: Path | None = None) -> Signer:
    """The configured key, or (embedded mode, nothing configured) the one generated into the data dir."""
    path = key_file or data_dir / DEFAULT_KEY_FILE
    if key_file is None and not path.exists():
        generate_key_file(path)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"BWV_SIGNING_KEY_FILE {path} does not exist") from None
    except (ValueError, TypeError) as e:
        raise ConfigError(f"BWV_SIGNING_KEY_FILE {path} is not an unencrypted PEM private key: {e}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError(f"BWV_SIGNING_KEY_FILE {path} is not an Ed25519 key")
    return Signer(private, keyring_dir or data_dir / KEYRING_DIR)
