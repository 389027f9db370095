"""Signed bundles and receipts (DESIGN.md rule 8): the CPS verifies a bundle with OpenSSL alone and with
`bwv bundle verify --key`, trusting only the force's published key; a forged bundle (exhibit replaced and
manifest recomputed, re-signed with another key, the key inside swapped) fails both. A recipient's receipt
is signed by the force too."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.disclosure.receipts import message as receipt_message
from tests.helpers import (
    assert_problem,
    bin_path,
    case_with_exhibits,
    console_session,
    cookie_header,
    csrf,
    iso,
    set_cookies,
)


def _openssl_verify(key: Path, manifest: Path, sig: Path) -> subprocess.CompletedProcess:
    # The exact command API.md gives the CPS.
    return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(key), "-rawin", "-in", str(manifest),
                           "-sigfile", str(sig)], capture_output=True, text=True)


def _bwv_verify(bundle: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([bin_path(), "bundle", "verify", str(bundle), *extra], capture_output=True, text=True)


def _rezip(src: bytes, dest: Path, replace: dict[str, bytes]) -> None:
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info.filename)))


async def _signed_bundle(stack, tag: str) -> tuple[dict, str, bytes]:
    dis, cid, _, _ = await case_with_exhibits(stack, tag)
    bid = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await stack.drain_jobs()
    dl = await stack.client.get(f"/v1/bundles/{bid}/download", headers=dis)
    assert dl.status_code == 200, dl.text
    return dis, bid, dl.content


async def test_a_bundle_verifies_with_openssl_and_bwv_and_forgeries_fail_both(stack, tmp_path):
    _, _, data = await _signed_bundle(stack, "sig")
    keys = (await stack.client.get("/v1/keys")).json()["keys"]  # no login
    force = tmp_path / "force.pem"
    force.write_text(keys[0]["public_key_pem"])
    z = zipfile.ZipFile(io.BytesIO(data))
    raw = z.read("manifest.json")
    manifest = json.loads(raw)
    assert manifest["key_id"] == keys[0]["key_id"]
    # The checkpoint covers every continuity event, and is one the service signed and published.
    cp = manifest["audit_checkpoint"]
    seqs = [int(r["seq"]) for r in csv.DictReader(io.StringIO(z.read("continuity.csv").decode()))]
    assert seqs and max(seqs) <= cp["seq"]
    listed = (await stack.client.get("/v1/audit/checkpoints?limit=500", headers=stack.auth("aud", "auditor"))).json()
    assert {"seq": cp["seq"], "hash": cp["hash"]} in [{"seq": c["seq"], "hash": c["hash"]} for c in listed["items"]]

    (tmp_path / "manifest.json").write_bytes(raw)
    (tmp_path / "manifest.sig").write_bytes(z.read("manifest.sig"))
    ok = _openssl_verify(force, tmp_path / "manifest.json", tmp_path / "manifest.sig")
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    good = tmp_path / "bundle.zip"
    good.write_bytes(data)
    r = _bwv_verify(good, "--key", str(force))
    assert r.returncode == 0 and r.stdout.startswith("PASS: 3 exhibits") and "signature verified" in r.stdout, r.stdout
    r = _bwv_verify(good)
    assert r.returncode == 0 and "NOT checked against a trusted key" in r.stdout, r.stdout

    # Forgery 1: an exhibit replaced and the manifest recomputed (the force's signature no longer fits).
    fake_clip = b"not the footage" * 1000
    forged = json.loads(raw)
    forged["exhibits"][0]["sha256"] = hashlib.sha256(fake_clip).hexdigest()
    forged_raw = json.dumps(forged, indent=2).encode()
    # Forgery 2: the same, re-signed with the forger's key, shipped inside the ZIP in place of the force's.
    mallory = Ed25519PrivateKey.generate()
    mallory_pem = mallory.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    variants = {
        "recomputed": {forged["exhibits"][0]["file"]: fake_clip, "manifest.json": forged_raw},
        "re-signed": {forged["exhibits"][0]["file"]: fake_clip, "manifest.json": forged_raw,
                      "manifest.sig": mallory.sign(forged_raw), "signing-key.pem": mallory_pem},
    }
    for name, replace in variants.items():
        bad = tmp_path / f"{name}.zip"
        _rezip(data, bad, replace)
        (tmp_path / f"{name}.json").write_bytes(replace["manifest.json"])
        (tmp_path / f"{name}.sig").write_bytes(replace.get("manifest.sig", z.read("manifest.sig")))
        o = _openssl_verify(force, tmp_path / f"{name}.json", tmp_path / f"{name}.sig")
        assert o.returncode != 0 and "Signature Verified Successfully" not in o.stdout, (name, o.stdout)
        r = _bwv_verify(bad, "--key", str(force))
        assert r.returncode == 1 and r.stdout.startswith("FAIL") and "manifest.sig does not verify" in r.stdout, (
            name, r.stdout)
    # The forger's own key inside the ZIP "verifies" it: which is why only --key with a trusted key counts.
    r = _bwv_verify(tmp_path / "re-signed.zip")
    assert r.returncode == 0 and "NOT checked" in r.stdout, r.stdout


async def test_a_receipt_after_download_is_signed_listed_and_audited(stack, tmp_path):
    dis, bid, _ = await _signed_bundle(stack, "rct")
    body = {"recipient": "cps@example.org", "expires_at": iso(datetime.now(UTC) + timedelta(days=7)), "max_downloads": 2}
    share = (await stack.client.post(f"/v1/bundles/{bid}/shares", json=body, headers=dis)).json()
    token = share["url"].rsplit("/", 1)[-1]
    who = {"name": "A. Lawyer", "organisation": "CPS Area North"}
    early = await stack.client.post(f"/v1/shared/{token}/receipt", json=who)
    assert_problem(early, 409, slug="receipt-before-download")
    assert_problem(await stack.client.post("/v1/shared/not-a-token/receipt", json=who), 404)
    assert_problem(await stack.client.post(f"/v1/shared/{token}/receipt", json={"name": " ", "organisation": "x"}), 422)
    dl = await stack.client.get(f"/v1/shared/{token}")
    assert dl.status_code == 200
    r = await stack.client.post(f"/v1/shared/{token}/receipt", json=who, headers={"User-Agent": "cps-browser"})
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert receipt["bundle_sha256"] == hashlib.sha256(dl.content).hexdigest()
    assert set(receipt) >= {"receipt_id", "bundle_sha256", "received_at", "signature"}
    # Checked with OpenSSL against the force's published key.
    from types import SimpleNamespace

    from service.timeutil import parse_time
    row = SimpleNamespace(id=receipt["receipt_id"], share_id=receipt["share_id"], bundle_id=receipt["bundle_id"],
                          bundle_sha256=receipt["bundle_sha256"], name=receipt["name"],
                          organisation=receipt["organisation"], received_at=parse_time(receipt["received_at"], "t"),
                          key_id=receipt["key_id"])
    (tmp_path / "receipt.json").write_bytes(receipt_message(row))
    (tmp_path / "receipt.sig").write_bytes(base64.b64decode(receipt["signature"]))
    key = tmp_path / "force.pem"
    key.write_text((await stack.client.get("/v1/keys")).json()["keys"][0]["public_key_pem"])
    o = _openssl_verify(key, tmp_path / "receipt.json", tmp_path / "receipt.sig")
    assert o.returncode == 0, o.stdout + o.stderr
    detail = (await stack.client.get(f"/v1/shares/{share['share_id']}", headers=dis)).json()
    assert [x["receipt_id"] for x in detail["receipts"]] == [receipt["receipt_id"]]
    events = (await stack.client.get(f"/v1/audit?object_id={bid}&action=share.receipt",
                                     headers=stack.auth("aud", "auditor"))).json()["items"]
    assert [e["details"]["receipt_id"] for e in events] == [receipt["receipt_id"]]
    assert events[0]["details"]["organisation"] == "CPS Area North"
    # The recipient's page (no login) offers the download, the checks and a receipt form; the force's console shows
    # every receipt on the bundle's page.
    page = await stack.client.get(f"/ui/shared/{token}")
    assert page.status_code == 200 and receipt["bundle_sha256"] in page.text and "openssl pkeyutl" in page.text
    pre = set_cookies(page)
    made = await stack.client.post(f"/ui/shared/{token}/receipt", headers=cookie_header(pre),
                                   data={"name": "B. Clerk", "organisation": "CPS Area North", "csrf_token": csrf(page.text)})
    assert made.status_code == 200 and 'data-testid="receipt-made"' in made.text, made.text[:2000]
    cookie = await console_session(stack, "dis-web", ["disclosure"])
    bundle_page = await stack.client.get(f"/ui/disclosure/bundles/{bid}", headers=cookie)
    assert bundle_page.status_code == 200
    assert "A. Lawyer" in bundle_page.text and "B. Clerk" in bundle_page.text and "2 received" in bundle_page.text
    assert (await stack.client.get("/ui/shared/not-a-token")).status_code == 404


async def test_trusted_time_from_a_real_rfc3161_authority(stack, tsa, tmp_path):
    """With BWV_TSA_URL set, checkpoints and manifests are time-stamped by the authority (openssl ts -reply
    behind HTTP); `bwv bundle verify --tsa-ca` and the audit verification check the tokens."""
    from service.audit import service as audit
    from service.audit.tasks import audit_checkpoint
    from service.auth.schemas import Principal
    from service.db import transaction

    stack.settings.tsa_url = tsa.url
    stack.settings.tsa_ca_file = tsa.ca_file
    _, _, data = await _signed_bundle(stack, "tsa")
    z = zipfile.ZipFile(io.BytesIO(data))
    assert "manifest.tsr" in z.namelist()
    (tmp_path / "manifest.json").write_bytes(z.read("manifest.json"))
    (tmp_path / "manifest.tsr").write_bytes(z.read("manifest.tsr"))
    o = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "manifest.json"), "-in",
                        str(tmp_path / "manifest.tsr"), "-CAfile", str(tsa.ca_file)], capture_output=True, text=True)
    assert o.returncode == 0 and "Verification: OK" in o.stdout, o.stdout + o.stderr
    key = tmp_path / "force.pem"
    key.write_text((await stack.client.get("/v1/keys")).json()["keys"][0]["public_key_pem"])
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(data)
    r = _bwv_verify(bundle, "--key", str(key), "--tsa-ca", str(tsa.ca_file))
    assert r.returncode == 0 and "time-stamped by the authority at" in r.stdout, r.stdout + r.stderr
    r = _bwv_verify(bundle, "--key", str(key), "--tsa-ca", str(tsa.other_ca_file))
    assert r.returncode == 1 and "manifest.tsr does not verify" in r.stdout, r.stdout
    # A token for other bytes (the manifest changed after it was stamped) fails too.
    forged = tmp_path / "forged.zip"
    _rezip(data, forged, {"manifest.tsr": z.read("manifest.tsr"), "manifest.json": z.read("manifest.json") + b" "})
    r = _bwv_verify(forged, "--tsa-ca", str(tsa.ca_file))
    assert r.returncode == 1 and "manifest.tsr does not verify" in r.stdout, r.stdout

    await audit_checkpoint(stack.ctx)
    latest = (await stack.client.get("/v1/audit/checkpoints/latest")).json()
    assert latest["tsa_token"]
    auditor = Principal(sub="aud", roles=frozenset({"auditor"}))
    async with transaction(stack.ctx.sessions) as s:
        ok = await audit.verify_as(s, auditor, stack.ctx.signer, stack.ctx.store, tsa_ca=str(tsa.ca_file))
    assert ok.ok, ok
    async with transaction(stack.ctx.sessions) as s:
        bad = await audit.verify_as(s, auditor, stack.ctx.signer, stack.ctx.store, tsa_ca=str(tsa.other_ca_file))
    assert not bad.ok and "time-stamp does not verify" in bad.reason, bad


async def test_clips_carry_c2pa_content_credentials_naming_their_source(stack, c2pa_credentials, tmp_path):
    """Each clip carries a C2PA manifest signed with the force's certificate, naming the source recording's
    SHA-256 as its ingredient and what was done; the library's own reader validates it, and the bundle still
    verifies (the manifest's hashes are of the signed clips)."""
    import c2pa

    if stack.mode != "embedded":
        pytest.skip("the clip's credentials do not depend on the stack")
    stack.settings.c2pa_cert, stack.settings.c2pa_key = c2pa_credentials.cert, c2pa_credentials.key
    _, _, data = await _signed_bundle(stack, "c2pa")
    z = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(z.read("manifest.json"))
    for ex in manifest["exhibits"]:
        reader = c2pa.Reader("video/mp4", io.BytesIO(z.read(ex["file"])))
        assert reader.get_validation_state() in ("Valid", "Trusted"), reader.get_validation_results()
        store = json.loads(reader.json())
        active = store["manifests"][store["active_manifest"]]
        assert active["signature_info"]["common_name"] == "Test Force Evidence Signing"
        assert [i["instance_id"] for i in active["ingredients"]] == [f"urn:sha256:{ex['source_sha256']}"]
        actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
        assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
        assert ("frame-exact" in actions[1]["description"]) == ex["accurate"]
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(data)
    key = tmp_path / "force.pem"
    key.write_text((await stack.client.get("/v1/keys")).json()["keys"][0]["public_key_pem"])
    r = _bwv_verify(bundle, "--key", str(key))
    assert r.returncode == 0 and r.stdout.startswith("PASS: 3 exhibits"), r.stdout


async def test_a_redacted_sar_copy_carries_c2pa_credentials(stack, c2pa_credentials):
    import c2pa

    from tests.fixtures.media import cached_clip
    from tests.helpers import recording, sar_body

    if stack.mode != "embedded":
        pytest.skip("the clip's credentials do not depend on the stack")
    stack.settings.c2pa_cert, stack.settings.c2pa_key = c2pa_credentials.cert, c2pa_credentials.key
    sar_h = stack.auth("sar-1", "sar_handler")
    now = datetime.now(UTC)
    clip = cached_clip(seconds=4, width=320, height=240, gop_s=1.0).read_bytes()
    rec = await recording(stack, "c2pa-sar", data=clip, officer_id="pc-3", start=now - timedelta(hours=2))
    await stack.drain_jobs()
    sar = (await stack.client.post("/v1/sars", json=sar_body(now - timedelta(days=1), now), headers=sar_h)).json()
    iid = (await stack.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": rec["id"], "clip_start_s": 0.5,
                                                                            "clip_end_s": 2.5}, headers=sar_h)).json()["id"]
    plan = {"auto_faces": False, "boxes": [{"start_s": 1.0, "end_s": 2.0, "x": 10, "y": 10, "w": 100, "h": 80}],
            "mute": []}
    r = await stack.client.post(f"/v1/sars/{sar['id']}/items/{iid}/redaction", json=plan, headers=sar_h)
    assert r.status_code == 202, r.text
    await stack.drain_jobs()
    red = await stack.client.get(f"/v1/sars/{sar['id']}/items/{iid}/redacted", headers=sar_h)
    assert red.status_code == 200, red.text
    reader = c2pa.Reader("video/mp4", io.BytesIO(red.content))
    assert reader.get_validation_state() in ("Valid", "Trusted"), reader.get_validation_results()
    store = json.loads(reader.json())
    active = store["manifests"][store["active_manifest"]]
    assert [i["instance_id"] for i in active["ingredients"]] == [f"urn:sha256:{rec['sha256']}"]
    actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert "1 areas blurred" in actions[1]["description"], actions
