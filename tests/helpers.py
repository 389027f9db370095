"""What test modules share: principals, recordings made through the API, console cookies, free ports,
the `bwv` script, and the checks that a refusal is a problem and changed nothing.

Test modules import from here, from tests/fixtures/ or through conftest.py fixtures; never from each
other (a test module is collected for its tests, and importing one drags its fixtures along).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

import service.models  # noqa: F401 - every table in Base.metadata, for state()
from service.auth import accounts
from service.auth.schemas import Principal
from service.db import Base, transaction
from tests.fixtures.media import cached_clip

if TYPE_CHECKING:
    from tests.fixtures.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
# tests.fixtures.s3 is imported inside the functions that use it: it is a pytest plugin, which pytest must
# import first (to rewrite its asserts), and conftest.py imports this module before registering plugins.

# ---- principals -----------------------------------------------------------------------------------

ADMIN = Principal(sub="ops-admin", roles=frozenset({"admin"}))
# An operator at the command line: the reserved ``cli:`` prefix the real `bwv` gives its actor.
CLI_ADMIN = Principal(sub="cli:test", roles=frozenset({"admin"}))


# ---- processes --------------------------------------------------------------------------------------


def free_port() -> int:
    """A port nobody listens on now (a server started on it may still lose a race for it; callers that
    start one retry or fail with its log)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_path(name: str = "bwv") -> str:
    """A console script of this checkout's virtualenv (the one running the tests), else from PATH."""
    found = Path(sys.executable).parent / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    assert which, f"the {name} console script is not installed (pip install -e .)"
    return which


def worker_env(stack: Stack) -> dict[str, str]:
    """The environment for a `bwv worker` process that serves this (pg_s3) stack's queue."""
    from tests.fixtures.s3 import TEST_ENV

    s = stack.settings
    return {**os.environ, **TEST_ENV, "BWV_DATABASE_URL": s.db_url, "BWV_STORAGE_URL": s.object_store_url,
            "BWV_S3_ENDPOINT_URL": s.s3_endpoint_url, "BWV_REDIS_URL": s.redis_url, "BWV_QUEUE_NAME": s.queue_name,
            "BWV_SECRET_KEY": s.secret_key, "BWV_DATA_DIR": str(s.data_dir), "BWV_POLICY_DIR": str(s.policy_dir)}


# ---- footage ----------------------------------------------------------------------------------------


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def recording(stack: Stack, tag: str, *, data: bytes | None = None, start: datetime | None = None,
                    repeat: int = 4000, parts: int = 2, **meta: Any) -> dict[str, Any]:
    """A completed upload, as a dock makes it: ``tag`` repeated (or ``data``), recorded from ``start`` for
    five minutes when given; the recording's JSON."""
    if start is not None:
        meta.update(recorded_start=iso(start), recorded_end=iso(start + timedelta(minutes=5)))
    r = await stack.upload(data or f"{tag}-".encode() * repeat, parts=parts, **meta)
    assert r.status_code == 201, r.text
    return r.json()


async def case_with_exhibits(stack: Stack, tag: str) -> tuple[dict[str, str], str, dict, dict]:
    """A case with three exhibits from two probed clips (two cuts of one, all of the other):
    (disclosure officer's headers, case id, recording a, recording b)."""
    dis = stack.auth("dc-1", "disclosure")
    data_a = cached_clip(seconds=10, gop_s=2.0).read_bytes()
    data_b = cached_clip(seconds=10, gop_s=2.0, tone_hz=660).read_bytes()
    a = (await stack.upload(data_a, parts=2, device_id=f"cam-{tag}-a")).json()
    b = (await stack.upload(data_b, parts=2, device_id=f"cam-{tag}-b")).json()
    await stack.drain_jobs()  # probe: durations known
    cid = (await stack.client.post("/v1/cases", json={"urn": f"URN-{tag.upper()}", "title": "R v Jones"},
                                   headers=dis)).json()["id"]
    for body in ({"recording_id": a["id"], "exhibit_ref": "JS/1", "clip_start_s": 3.0, "clip_end_s": 7.0},
                 {"recording_id": a["id"], "exhibit_ref": "JS/2", "clip_start_s": 3.0, "clip_end_s": 7.0,
                  "accurate": True},
                 {"recording_id": b["id"], "exhibit_ref": "JS/3"}):
        r = await stack.client.post(f"/v1/cases/{cid}/items", json=body, headers=dis)
        assert r.status_code == 201, r.text
    return dis, cid, a, b


REQUESTER = "Jane Q. Requester"
CONTACT = "jane.requester@example.org"


def sar_body(frm: datetime, to: datetime, **over: Any) -> dict[str, Any]:
    """A subject access request for footage between ``frm`` and ``to``."""
    body = {"requester": REQUESTER, "contact": CONTACT, "received_at": iso(datetime.now(UTC)),
            "description": "Stopped near the station, red coat", "query": {"from": iso(frm), "to": iso(to)}}
    body.update(over)
    return body


# ---- the console's cookies ----------------------------------------------------------------------------

PASSWORD = "a-long-password"


def set_cookies(r: httpx.Response) -> dict[str, str]:
    # Read Set-Cookie by hand: httpx's jar (rightly) withholds Secure cookies from http://127.0.0.1.
    return {h.partition("=")[0]: h.partition("=")[2].split(";", 1)[0] for h in r.headers.get_list("set-cookie")}


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert m, html[:500]
    return m.group(1)


async def console_session(stack: Stack, username: str, roles: list[str]) -> dict[str, str]:
    """A new console account signed in through the login form: the Cookie header its pages send."""
    async with transaction(stack.ctx.sessions) as s:
        await accounts.add_user(s, ADMIN, username, roles, PASSWORD)
    r = await stack.client.get("/ui/login")
    pre = set_cookies(r)
    r = await stack.client.post("/ui/login", data={"username": username, "password": PASSWORD,
                                                   "csrf_token": csrf(r.text)}, headers=cookie_header(pre))
    assert r.status_code == 303, r.text
    return cookie_header({**pre, **set_cookies(r)})


# ---- refusals -------------------------------------------------------------------------------------------

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(r: httpx.Response, *statuses: int, slug: str | None = None) -> dict[str, Any]:
    assert r.status_code in statuses, f"{r.status_code} not in {statuses}: {r.text[:500]}"
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert PROBLEM_KEYS <= body.keys(), body
    assert body["status"] == r.status_code
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["type"].startswith("https://"), body["type"]
    if slug:
        assert body["type"].endswith("/" + slug), body["type"]
    return body


async def state(stack: Stack) -> dict[str, Any]:
    """Everything a request could change: every table's rows, every stored object, every file."""
    from tests.fixtures.s3 import s3_client

    out: dict[str, Any] = {}
    async with stack.ctx.sessions() as s:
        # Only the tables the migrations created (models being written may be ahead of them).
        present = set(await (await s.connection()).run_sync(lambda c: sa_inspect(c).get_table_names()))
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                continue
            rows = (await s.execute(select(table))).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    out["objects"] = sorted((o.key, o.size) for o in await stack.ctx.store.list(""))
    if stack.mode == "embedded":
        root = stack.settings.data_dir / "objects"
        out["files"] = await asyncio.to_thread(lambda: sorted(os.path.relpath(os.path.join(d, f), root)
                                                              for d, _, fs in os.walk(root) for f in fs))
    else:  # multipart uploads left open would be invisible to list() but still hold bytes
        client = s3_client(stack.settings.s3_endpoint_url)
        try:
            bucket = stack.settings.storage_url.removeprefix("s3://").split("/")[0]
            mp = await asyncio.to_thread(client.list_multipart_uploads, Bucket=bucket)
            out["multipart"] = sorted(u["Key"] for u in mp.get("Uploads", []))
        finally:
            client.close()
    return out


class Unchanged:
    """``async with Unchanged(stack): ...`` asserts the block left the whole state as it found it."""

    def __init__(self, stack: Stack, *uploads: str):
        self.stack, self.uploads = stack, uploads

    async def _status(self) -> list[Any]:
        got = []
        for up in self.uploads:
            r = await self.stack.client.get(f"/v1/uploads/{up}", headers=self.stack.dock)
            got.append(r.json())
        return got

    async def __aenter__(self) -> Unchanged:
        # Work queued before the block (e.g. the start-up retention recompute) is not the block's doing.
        await self.stack.drain_jobs()
        self.before = await state(self.stack)
        self.status_before = await self._status()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        assert await self._status() == self.status_before
        after = await state(self.stack)
        changed = {k for k in after if after[k] != self.before.get(k)}
        assert not changed, {k: (self.before.get(k), after[k]) for k in changed}
