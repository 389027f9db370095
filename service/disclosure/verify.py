"""``bwv bundle verify FILE.zip [--key force.pem] [--tsa-ca tsa-ca.pem]``: a prosecutor's offline check
that a bundle is what the force sent, without access to bodycam: every exhibit hash matches
``manifest.json``, and ``manifest.sig`` is the Ed25519 signature of its exact bytes under a key the
checker trusts. A key inside the ZIP proves nothing (whoever forged the bundle would ship their own), so
without ``--key`` the verdict says the signature was not checked against a trusted key."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from service.signing.keys import key_id_of, load_public_pem, verify_signature

SIGNATURE, PUBLIC_KEY, TIMESTAMP = "manifest.sig", "signing-key.pem", "manifest.tsr"
KNOWN = {"manifest.json", "manifest.csv", "continuity.csv", SIGNATURE, PUBLIC_KEY, TIMESTAMP}


@dataclass
class Verdict:
    ok: bool
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signature_trusted: bool = False


def _exhibits(z: zipfile.ZipFile, manifest: dict, v: Verdict) -> None:
    names = set(z.namelist())
    files = manifest.get("exhibits", manifest.get("files", []))
    for ex in files:
        name, label = ex["file"], ex.get("exhibit_ref", ex["file"])
        if name not in names:
            v.problems.append(f"{label}: {name} is missing from the ZIP")
            continue
        h = hashlib.sha256()
        try:
            with z.open(name) as f:
                while chunk := f.read(1024 * 1024):
                    h.update(chunk)
        except (zipfile.BadZipFile, OSError) as e:
            v.problems.append(f"{label}: {name} is damaged ({e})")
            continue
        v.checked += 1
        if h.hexdigest() != ex["sha256"]:
            v.problems.append(f"{label}: {name} SHA-256 {h.hexdigest()} does not match the manifest's {ex['sha256']}")
    logs = {ex["redaction_log"] for ex in files if ex.get("redaction_log")}
    extra = names - {e["file"] for e in files} - KNOWN - logs
    v.problems += [f"{n} is in the ZIP but not in the manifest" for n in sorted(extra)]


def _signature(z: zipfile.ZipFile, raw: bytes, manifest: dict, trusted_key: bytes | None, v: Verdict) -> None:
    names = set(z.namelist())
    if SIGNATURE not in names:
        v.problems.append("manifest.sig is missing: the bundle is not signed")
        return
    sig = z.read(SIGNATURE)
    if trusted_key is None:
        inside = z.read(PUBLIC_KEY) if PUBLIC_KEY in names else None
        matches = False
        if inside is not None:
            try:
                matches = verify_signature(load_public_pem(inside), sig, raw)
            except ValueError:
                matches = False
        v.notes.append("signature NOT checked against a trusted key (a key shipped inside a bundle proves nothing): "
                       "run again with --key force.pem, the force's published key"
                       + (f"; it does match the {PUBLIC_KEY} inside the ZIP" if matches else ""))
        return
    try:
        key = load_public_pem(trusted_key)
    except ValueError as e:
        v.problems.append(f"--key is not an Ed25519 public key in PEM: {e}")
        return
    if not verify_signature(key, sig, raw):
        v.problems.append(f"manifest.sig does not verify under the trusted key {key_id_of(key)[:16]}…: "
                          "manifest.json was changed or signed by someone else")
        return
    if manifest.get("key_id") not in (None, key_id_of(key)):
        v.problems.append(f"manifest names key_id {manifest.get('key_id')}, not the trusted key's {key_id_of(key)}")
        return
    v.signature_trusted = True
    v.notes.append(f"signature verified under the trusted key {key_id_of(key)}")


def _timestamp(z: zipfile.ZipFile, raw: bytes, tsa_ca: Path, v: Verdict) -> None:
    import asyncio

    from service.signing.tsa import stamped_time, verify_token

    if TIMESTAMP not in z.namelist():
        v.problems.append("manifest.tsr is missing: the manifest was not time-stamped")
        return
    token = z.read(TIMESTAMP)
    why = asyncio.run(verify_token(raw, token, tsa_ca))
    if why is not None:
        v.problems.append(f"manifest.tsr does not verify under {tsa_ca.name}: {why}")
        return
    v.notes.append(f"time-stamped by the authority at {asyncio.run(stamped_time(token))}")


def verify_bundle(path: Path, *, trusted_key: bytes | None = None, tsa_ca: Path | None = None) -> Verdict:
    v = Verdict(ok=False)
    try:
        with zipfile.ZipFile(path) as z:
            raw = z.read("manifest.json")
            manifest = json.loads(raw)
            _exhibits(z, manifest, v)
            _signature(z, raw, manifest, trusted_key, v)
            if tsa_ca is not None:
                _timestamp(z, raw, tsa_ca, v)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as e:
        v.problems.append(f"not a readable bodycam bundle: {e}")
    v.ok = not v.problems and v.checked > 0
    return v
