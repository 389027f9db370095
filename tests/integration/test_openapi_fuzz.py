"""Schemathesis against the served OpenAPI, every check: no generated request makes the server answer
5xx, and every answer is one the OpenAPI states (status, content type, body, headers, bounds).

The real ``bwv serve`` runs in a subprocess (embedded, and on PostgreSQL + S3 + Redis), seeded with a
recording, a flag, a case, a hold and a SAR so that generated requests reach past "404 not found" into
the code behind each path. Schemathesis then sends every operation's generated requests twice: as a
person holding every staff role, and as a dock. The seed is fixed so that ``make test`` is repeatable;
``make test-long`` runs the same campaign with fresh seeds and more examples.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.fixtures.media import cached_clip
from tests.fixtures.services import create_database, drop_database, pg_url, run_async
from tests.helpers import ROOT, bin_path, free_port, iso

STAFF_ROLES = ["admin", "supervisor", "disclosure", "sar_handler", "auditor", "officer"]


class Served:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> str:
        p = subprocess.run([bin_path("bwv"), *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    def start(self) -> None:
        self.cli("migrate")
        self.proc = subprocess.Popen([bin_path("bwv"), "serve", "--port", str(self.port)], env=self.env,
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"bwv serve did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _seed(srv: Served, staff: str, dock: str) -> dict[str, str]:
    """Real objects for every path parameter, made through the API as a dock and staff would."""
    data = cached_clip(seconds=2).read_bytes()
    now = datetime.now(UTC)
    meta = {"device_id": "cam-fuzz", "officer_id": "fuzz-officer", "filename": "clip.mp4",
            "content_type": "video/mp4", "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "recorded_start": iso(now - timedelta(hours=2)), "recorded_end": iso(now - timedelta(hours=1)),
            "device_clock_at_dock": iso(now)}
    with httpx.Client(base_url=srv.base, timeout=60) as c:
        d = {"Authorization": f"Bearer {dock}"}
        s = {"Authorization": f"Bearer {staff}"}
        up = c.post("/v1/uploads", json=meta, headers=d)
        assert up.status_code == 201, up.text
        upload_id = up.json()["upload_id"]
        assert c.put(f"/v1/uploads/{upload_id}/parts/1", content=data, headers=d).status_code == 200
        done = c.post(f"/v1/uploads/{upload_id}/complete", headers=d)
        assert done.status_code == 201, done.text
        rec = done.json()["id"]
        flag = c.post(f"/v1/recordings/{rec}/flags", headers=s,
                      json={"category": "evidence", "reference": "FZ/1", "reason": "fuzz seed"}).json()
        case = c.post("/v1/cases", headers=s, json={"urn": "01FZ0000001", "title": "fuzz"}).json()
        hold = c.post("/v1/holds", headers=s, json={"kind": "legal", "reference": "FZ-H", "reason": "fuzz seed",
                                                    "recording_ids": [rec]}).json()
        sar = c.post("/v1/sars", headers=s, json={
            "requester": "A Person", "contact": "a@example.org", "received_at": iso(now),
            "description": "fuzz seed", "query": {"from": iso(now - timedelta(days=1)), "to": iso(now)}}).json()
    assert all("id" in x for x in (flag, case, hold, sar)), (flag, case, hold, sar)
    return {"recording_id": rec, "upload_id": upload_id, "flag_id": flag["id"], "case_id": case["id"],
            "hold_id": hold["id"], "sar_id": sar["id"], "device_id": "cam-fuzz"}


# positive_data_acceptance ("a request the schema allows is accepted") is off for these operations only:
# each has a rule between two fields that JSON Schema cannot state, so a schema-valid request can break it
# and is rightly 422. Every single-field rule of theirs is declared, and the other checks still run.
CROSS_FIELD_RULES = {
    "POST /v1/recordings/{recording_id}/flags": "clip_end_s after clip_start_s",
    "POST /v1/cases/{case_id}/items": "clip_end_s after clip_start_s",
    "POST /v1/sars/{sar_id}/items": "clip_end_s after clip_start_s",
    "POST /v1/holds": "recording_ids or a query (not both); query.to after query.from",
    "POST /v1/sars": "query.to after query.from",
    "POST /v1/uploads": "recorded_end not before recorded_start",
    "GET /v1/stats": "the month of from not after the month of to",
    "POST /v1/cases/{case_id}/outcome": "custody_release_at and appeal_until not before decided_at; "
                                        "custody_release_at for a conviction only",
    # Not cross-field, but as far outside a static schema: the bound is the loaded retention policy's.
    "POST /v1/retention/reviews/{review_id}/decision": "retain_days at most the policy's max_retain_days",
}


def _server_cursors(srv: Served, token: str, params: dict[str, str]) -> dict[str, list[str]]:
    """For every paged list, the cursors this server issues for it: "" (the first page) and the
    next_cursor of a one-item page where the seed gives it a second. A cursor is opaque: one the client
    made up is rightly refused, so positive requests take theirs from here (as a real client does)."""
    spec = httpx.get(srv.base + "/openapi.json").json()
    out: dict[str, list[str]] = {}
    with httpx.Client(base_url=srv.base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as c:
        for path, ops in spec["paths"].items():
            for method, op in ops.items():
                if not any(p["name"] == "cursor" for p in op.get("parameters", [])):
                    continue
                cursors = [""]
                try:
                    url = path.format(**params)
                except KeyError:  # nothing seeded to list under (a bundle's shares)
                    url = None
                if url:
                    r = c.request(method.upper(), url, params={"limit": 1})
                    if r.status_code == 200 and r.json().get("next_cursor"):
                        cursors.append(r.json()["next_cursor"])
                out[f"{method.upper()} {path}"] = cursors
    return out


def _config(path: Path, params: dict[str, str], cursors: dict[str, list[str]]) -> Path:
    # Text with U+0000 is refused everywhere with 422 nul-character (PostgreSQL cannot store it; service.db
    # refuses it on both stacks, tested in test_bad_input and tests/unit/test_nul_in_text.py). The schema does
    # not repeat that rule on every string, so generated "valid" data leaves NUL out.
    lines = ["[generation]", "allow-x00 = false", "[parameters]"] + [f'"path.{k}" = "{v}"' for k, v in params.items()]
    named = sorted(cursors.items())
    for i, (_, values) in enumerate(named):
        lines += [f"[dictionaries.cursors{i}]", f"values = {json.dumps(values)}"]
    for i, (name, _) in enumerate(named):
        # The coverage phase makes its own boundary cursors (longest, shortest): not ones a server issued.
        lines += ["[[operations]]", f'include-name = "{name}"',
                  f'parameters = {{ "query.cursor" = {{ dictionary = "cursors{i}" }} }}',
                  "phases.coverage.checks.positive_data_acceptance.enabled = false"]
    for name in sorted(CROSS_FIELD_RULES):
        lines += ["[[operations]]", f'include-name = "{name}"', "checks.positive_data_acceptance.enabled = false"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _fuzz(srv: Served, config: Path, token: str, *, max_examples: int, seed: int | None) -> None:
    args = [bin_path("schemathesis"), "--config-file", str(config), "run", srv.base + "/openapi.json",
            # No --checks: every check runs (schemathesis's default), and the config file can then turn
            # one off for one operation (a --checks on the command line would override that).
            "-H", f"Authorization: Bearer {token}",
            "--max-examples", str(max_examples), "--no-color", "--request-timeout", "60"]
    if seed is not None:
        args += ["--seed", str(seed)]
    # In the test's own directory: schemathesis keeps a cache (.schemathesis/) where it runs.
    p = subprocess.run(args, env={**srv.env, "NO_COLOR": "1", "COLUMNS": "160"}, cwd=config.parent,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, (p.stdout[-6000:] + p.stderr[-2000:] + "\nserver log:\n"
                               + srv.log.read_text()[-4000:])


@pytest.fixture(params=["embedded", "pg_s3"])
def served(request, tmp_path) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWV_")}
    env.update(BWV_DATA_DIR=str(tmp_path / "data"), BWV_SECRET_KEY="fuzz-secret-not-for-production",
               BWV_POLICY_DIR=str(ROOT / "policies"), BWV_LOG_LEVEL="WARNING")
    database = None
    if request.param == "pg_s3":
        from tests.fixtures.s3 import TEST_ENV, make_bucket

        endpoint = request.getfixturevalue("s3_endpoint")
        database = run_async(create_database)
        env.update(TEST_ENV, BWV_DATABASE_URL=pg_url(database), BWV_STORAGE_URL=f"s3://{make_bucket(endpoint)}",
                   BWV_S3_ENDPOINT_URL=endpoint, BWV_REDIS_URL="redis://127.0.0.1:6379/0",
                   BWV_QUEUE_NAME=f"bwv-fuzz:{uuid.uuid4().hex[:8]}")
    srv = Served(env, tmp_path / "serve.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        if database:
            run_async(drop_database, database)


def _campaign(srv: Served, tmp_path: Path, *, max_examples: int, seed: int | None) -> None:
    staff = srv.cli("token", "issue", "--sub", "fuzz-staff", *[a for r in STAFF_ROLES for a in ("--role", r)])
    dock = srv.cli("dock", "register", "dock-fuzz", "--site", "fuzz").splitlines()[-1].strip()
    params = _seed(srv, staff, dock)
    config = _config(tmp_path / "schemathesis.toml", params, _server_cursors(srv, staff, params))
    _fuzz(srv, config, staff, max_examples=max_examples, seed=seed)
    _fuzz(srv, config, dock, max_examples=max_examples, seed=seed)


# Two campaigns of every operation (527 s embedded on 2 shared cores at load 12). make test: 5 examples per
# operation from a fixed seed (8 took 126 s and 145 s, the suite's two longest tests); make test-long: 60 from
# fresh seeds.
@pytest.mark.timeout(1200)
def test_no_generated_request_gets_a_server_error(served: Served, tmp_path: Path) -> None:
    _campaign(served, tmp_path, max_examples=5, seed=20261202)


@pytest.mark.long
def test_no_server_error_fresh_seeds(served: Served, tmp_path: Path) -> None:
    _campaign(served, tmp_path, max_examples=60, seed=None)


async def test_closing_a_case_with_the_longest_reason_releases_its_hold(stack) -> None:
    """Found by the campaign above: the hold's release reason is the case's reason prefixed with its URN,
    which overflowed the column (a 500 on PostgreSQL) when the reason used its whole 2000 characters."""
    headers = stack.auth("fuzz-disclosure", "disclosure")
    case = (await stack.client.post("/v1/cases", json={"urn": "01LONG00001", "title": "t"}, headers=headers)).json()
    reason = "r" * 2000
    r = await stack.client.post(f"/v1/cases/{case['id']}/close", json={"reason": reason}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
    again = await stack.client.get(f"/v1/cases/{case['id']}", headers=headers)
    assert again.json()["status"] == "closed"
