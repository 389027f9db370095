"""Issue 12, disclosure: each promise attacked on both stacks.

1. A share link never serves more than max_downloads x the bundle's size, over any sequence of full,
   ranged, suffix, overlapping, interrupted and concurrent requests; an interrupted download resumes;
   expired and revoked links serve nothing; every access is audited with its address and user agent.
2. A bundle carries nothing of another case, a SAR or staff network details (every file of the ZIP).
3. Two exhibit references accepted in one case never share a file name (the second is refused, 409).
8. A SAR's bundle and link answer 404 on every bundle and share endpoint; its own link keeps working.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from service.disclosure import continuity
from service.disclosure.models import Share
from service.disclosure.naming import collision_key, exhibit_file_name
from service.errors import RangeNotSatisfiable
from service.http_range import parse_range
from tests.fixtures.media import cached_clip
from tests.fixtures.stack import iso

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _later(**kw) -> str:
    return iso(datetime.now(UTC) + timedelta(**kw))


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def _bundle(stack) -> tuple[dict, str, bytes]:
    """One ready case bundle per stack (hypothesis runs every example on the same stack)."""
    cached = getattr(stack, "_security_bundle", None)
    if cached is not None:
        return cached
    dis = stack.auth("dc-sec", "disclosure")
    data = cached_clip(seconds=10, gop_s=2.0).read_bytes()
    rec = (await stack.upload(data, parts=2, device_id=f"cam-sec-{uuid.uuid4().hex[:8]}")).json()
    await stack.drain_jobs()
    cid = (await stack.client.post("/v1/cases", json={"urn": f"SEC-{uuid.uuid4().hex[:8].upper()}",
                                                      "title": "R v Range"}, headers=dis)).json()["id"]
    r = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "RG/1"},
                                headers=dis)
    assert r.status_code == 201, r.text
    bid = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await stack.drain_jobs()
    body = (await stack.client.get(f"/v1/bundles/{bid}/download", headers=dis)).content
    assert len(body) > 4 * 64 * 1024  # several pieces, so a download can be cut part-way
    stack._security_bundle = (dis, bid, body)
    return stack._security_bundle


async def _share(stack, dis, bid: str, max_downloads: int) -> tuple[str, str]:
    r = await stack.client.post(f"/v1/bundles/{bid}/shares", json={"recipient": "cps@example.org",
                                                                   "expires_at": _later(days=1),
                                                                   "max_downloads": max_downloads}, headers=dis)
    assert r.status_code == 201, r.text
    return r.json()["share_id"], _path(r.json()["url"])


async def _counters(stack, share_id: str) -> tuple[int, int]:
    async with stack.ctx.sessions() as s:
        share = await s.get(Share, share_id, populate_existing=True)
        return share.bytes_served, share.downloads


async def _hang_up(app, path: str, *, range_header: str | None, user_agent: str, keep: int,
                   ip: str = "192.0.2.44") -> tuple[int, bytes]:
    """GET *path* straight through ASGI as a client that goes away once it holds *keep* bytes: the
    server sees ``http.disconnect`` (as uvicorn reports a dropped connection) and what it sends after
    that is lost, as on a real network."""
    got, status, state = bytearray(), None, {"asked": False, "gone": False}
    gone = asyncio.Event()

    async def receive():
        if not state["asked"]:
            state["asked"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not state["gone"]:
            got.extend(message.get("body", b""))
            if status in (200, 206) and len(got) >= keep:
                state["gone"] = True
                gone.set()

    headers = [(b"host", b"bodycam.test"), (b"user-agent", user_agent.encode())]
    if range_header:
        headers.append((b"range", range_header.encode()))
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": headers, "client": (ip, 50123), "server": ("bodycam.test", 80)}
    try:
        await app(scope, receive, send)
    except Exception:  # noqa: BLE001 - a server may raise once its client has gone; what it counted is checked
        pass
    return status, bytes(got)


# --- 1. the byte allowance --------------------------------------------------------------------------------

class Allowance:
    """The rule as API.md states it, kept apart from the code under test."""

    def __init__(self, size: int, max_downloads: int):
        self.size, self.max, self.downloads, self.served = size, max_downloads, 0, 0

    def expect(self, start: int, end: int) -> int:
        if start > 0 and self.downloads == 0:
            return 409  # resume before any download started
        if start == 0 and self.downloads >= self.max:
            return 410
        return 410 if self.served + end - start > self.max * self.size else 200

    def grant(self, start: int, end: int) -> None:
        self.served += end - start
        self.downloads += start == 0


def _header(kind: str, a: float, b: float, size: int) -> str | None:
    lo, hi = sorted((int(a * size), int(b * size)))
    return {"full": None, "from": f"bytes={lo}-", "zero": f"bytes=0-{hi}", "closed": f"bytes={lo}-{hi}",
            "suffix": f"bytes=-{hi}", "multi": f"bytes={lo}-{lo + 10},{hi}-{hi + 10}",
            "backwards": f"bytes={hi + 1}-{lo}"}[kind]


KINDS = ["full", "from", "zero", "closed", "suffix", "multi", "backwards"]
request_st = st.tuples(st.sampled_from(KINDS), st.floats(0, 1.1), st.floats(0, 1.1))
step_st = st.one_of(
    st.tuples(st.just("one"), request_st),
    st.tuples(st.just("cut"), st.tuples(st.sampled_from(["full", "from", "zero"]), st.floats(0, 1), st.floats(0, 1))),
    st.tuples(st.just("burst"), st.lists(request_st, min_size=2, max_size=8)),
)


@SETTINGS
@given(max_downloads=st.integers(1, 3), steps=st.lists(step_st, min_size=1, max_size=8))
@example(max_downloads=1, steps=[("one", ("full", 0, 0)), ("cut", ("from", 1.0, 0.5))])  # bytes=N- of N bytes
@example(max_downloads=1, steps=[("cut", ("from", 1.0, 0.5)), ("one", ("full", 0.0, 0.0))])
async def test_no_request_sequence_gets_more_than_the_allowance(stack, max_downloads, steps):
    dis, bid, body = await _bundle(stack)
    size = len(body)
    share_id, path = await _share(stack, dis, bid, max_downloads)
    model, received, agents = Allowance(size, max_downloads), 0, []

    async def one(kind, a, b):
        agents.append(f"probe/{uuid.uuid4().hex[:10]}")
        header = _header(kind, a, b, size)
        r = await stack.client.get(path, headers={"User-Agent": agents[-1], **({"Range": header} if header else {})})
        return header, r

    for step, arg in steps:
        if step == "one":
            header, r = await one(*arg)
            try:
                rng = parse_range(header, size)
            except RangeNotSatisfiable:
                assert r.status_code == 416, (header, r.text)
                continue
            expected = model.expect(rng.start, rng.end)
            if expected == 200:
                assert r.status_code == (206 if rng.partial else 200), (header, r.text)
                assert r.content == body[rng.start:rng.end]
                model.grant(rng.start, rng.end)
                received += len(r.content)
            else:
                assert r.status_code == expected, (header, model.__dict__, r.text)
                assert r.headers["content-type"] == "application/problem+json"
        elif step == "cut":
            kind, a, keep = arg
            header = _header(kind, a, a, size)
            agents.append(f"cut/{uuid.uuid4().hex[:10]}")
            try:
                rng = parse_range(header, size)
            except RangeNotSatisfiable:  # bytes=N- on an N-byte bundle selects nothing: 416, nothing counted
                status, _ = await _hang_up(stack.app, path, range_header=header, user_agent=agents[-1], keep=0)
                assert status == 416, header
                assert (await _counters(stack, share_id))[0] == model.served
                continue
            expected = model.expect(rng.start, rng.end)
            status, got = await _hang_up(stack.app, path, range_header=header, user_agent=agents[-1],
                                         keep=int(keep * (rng.end - rng.start)))
            if expected != 200:
                assert status == expected, (header, model.__dict__)
                continue
            assert status in (200, 206) and got == body[rng.start:rng.start + len(got)]
            served, _ = await _counters(stack, share_id)
            # What went out is counted (what was in flight too: the server cannot know it was lost),
            # and what was never sent is given back.
            assert model.served + len(got) <= served <= model.served + rng.end - rng.start
            model.grant(rng.start, rng.end)
            model.served, received = served, received + len(got)
        else:  # a burst of concurrent requests: any order may win, the sums must hold
            before_served, before_downloads = model.served, model.downloads
            results = await asyncio.gather(*[one(*req) for req in arg])
            granted = 0
            for header, r in results:
                assert r.status_code in (200, 206, 409, 410, 416), r.text
                if r.status_code in (200, 206):
                    rng = parse_range(header, size)
                    assert r.content == body[rng.start:rng.end]
                    granted += len(r.content)
                    model.downloads += rng.start == 0
            received += granted
            model.served = before_served + granted
            assert model.downloads - before_downloads <= max(0, max_downloads - before_downloads)
        assert (model.served, model.downloads) == await _counters(stack, share_id)
        assert received <= model.served <= max_downloads * size
        assert model.downloads <= max_downloads

    # Every request is in the link's access log, with its address and user agent.
    detail = (await stack.client.get(f"/v1/shares/{share_id}", headers=dis)).json()
    assert detail["accesses_total"] == len(agents)
    assert {a["user_agent"] for a in detail["accesses"]} == set(agents)
    assert all(a["ip"] for a in detail["accesses"])


async def test_a_burst_of_ranged_requests_gets_no_more_than_the_allowance(stack):
    dis, bid, body = await _bundle(stack)
    size = len(body)
    share_id, path = await _share(stack, dis, bid, 2)
    assert (await stack.client.get(path, headers={"Range": "bytes=0-0"})).status_code == 206  # starts it
    # 60 overlapping resumes of a third of the file each, all at once: six of them would already be
    # twice the bundle.
    starts = [1 + (i * 7919) % (size - size // 3 - 1) for i in range(60)]
    results = await asyncio.gather(*[stack.client.get(path, headers={"Range": f"bytes={s}-{s + size // 3 - 1}"})
                                     for s in starts])
    served = 1
    for s, r in zip(starts, results, strict=True):
        assert r.status_code in (206, 410), r.text
        if r.status_code == 206:
            assert r.content == body[s:s + size // 3]
            served += len(r.content)
        else:
            assert r.json()["reason"] == "used up" and r.json()["bytes_left"] < size // 3
    assert served <= 2 * size
    assert sum(r.status_code == 206 for r in results) == (2 * size - 1) // (size // 3)  # exactly what fits
    assert await _counters(stack, share_id) == (served, 1)


async def test_an_interrupted_download_resumes_and_completes(stack):
    dis, bid, body = await _bundle(stack)
    size = len(body)
    share_id, path = await _share(stack, dis, bid, 3)
    status, got = await _hang_up(stack.app, path, range_header=None, user_agent="cps-browser/1", keep=size // 3)
    assert status == 200 and 0 < len(got) < size and body.startswith(got)
    served, downloads = await _counters(stack, share_id)
    assert downloads == 1 and len(got) <= served < size  # the unsent rest was given back
    rest = await stack.client.get(path, headers={"Range": f"bytes={len(got)}-", "User-Agent": "cps-browser/1"})
    assert rest.status_code == 206 and rest.headers["content-range"] == f"bytes {len(got)}-{size - 1}/{size}"
    assert hashlib.sha256(got + rest.content).hexdigest() == hashlib.sha256(body).hexdigest()
    assert await _counters(stack, share_id) == (served + size - len(got), 1)
    # Cut again part-way through a resume, and resume that: what was given back pays for it.
    status, part = await _hang_up(stack.app, path, range_header="bytes=100-", user_agent="cps-browser/1",
                                  keep=size // 4)
    assert status == 206 and part == body[100:100 + len(part)]
    tail = await stack.client.get(path, headers={"Range": f"bytes={100 + len(part)}-"})
    assert tail.status_code == 206 and body[:100] + part + tail.content == body
    served, _ = await _counters(stack, share_id)
    assert served <= 3 * size
    accesses = (await stack.client.get(f"/v1/shares/{share_id}", headers=dis)).json()["accesses"]
    assert {a["ip"] for a in accesses} >= {"192.0.2.44"} and "cps-browser/1" in {a["user_agent"] for a in accesses}


async def test_expired_and_revoked_links_serve_nothing_at_all(stack):
    dis, bid, body = await _bundle(stack)
    size = len(body)
    expired_id, expired = await _share(stack, dis, bid, 3)
    revoked_id, revoked = await _share(stack, dis, bid, 3)
    for path in (expired, revoked):
        assert (await stack.client.get(path, headers={"Range": "bytes=0-99"})).status_code == 206  # started
    async with stack.ctx.sessions() as s, s.begin():
        await s.execute(update(Share).where(Share.id == expired_id)
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert (await stack.client.delete(f"/v1/shares/{revoked_id}", headers=dis)).status_code == 204
    for share_id, path, why in ((expired_id, expired, "expired"), (revoked_id, revoked, "revoked")):
        for header in (None, "bytes=0-", "bytes=100-", f"bytes={size - 10}-", "bytes=-10", "bytes=50-60,70-80",
                       f"bytes={size + 5}-"):
            r = await stack.client.get(path, headers={"Range": header} if header else {})
            assert r.status_code == 410 and r.json()["reason"] == why, (header, r.text)
        status, got = await _hang_up(stack.app, path, range_header="bytes=100-", user_agent="x", keep=1)
        assert status == 410 and b"PK" not in got
        assert await _counters(stack, share_id) == (100, 1)


# --- 2. a bundle tells only this case's story -----------------------------------------------------------

async def _sar_disclosed(stack, rec_id: str, *, requester: str, description: str, handler: str = "sar-hidden"):
    """A SAR holding *rec_id*, redacted (one box, no face search) and disclosed behind its link."""
    sar_h = stack.auth(handler, "sar_handler")
    now = datetime.now(UTC)
    sar = (await stack.client.post("/v1/sars", json={
        "requester": requester, "contact": "hidden.requester@example.org", "received_at": iso(now),
        "description": description, "query": {"from": iso(now - timedelta(days=1)), "to": iso(now)}},
        headers=sar_h)).json()
    item = await stack.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": rec_id}, headers=sar_h)
    assert item.status_code == 201, item.text
    plan = {"auto_faces": False, "boxes": [{"start_s": 0.5, "end_s": 1.5, "x": 10, "y": 10, "w": 60, "h": 40}]}
    r = await stack.client.post(f"/v1/sars/{sar['id']}/items/{item.json()['id']}/redaction", json=plan,
                                headers=sar_h)
    assert r.status_code == 202, r.text
    await stack.drain_jobs()
    d = await stack.client.post(f"/v1/sars/{sar['id']}/disclose", json={"max_downloads": 3}, headers=sar_h)
    assert d.status_code == 202, d.text
    await stack.drain_jobs()
    return sar, d.json(), sar_h


def _client(stack, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app, client=(ip, 41000)),
                             base_url="http://bodycam.test", timeout=60)


async def test_a_bundle_carries_nothing_of_another_case_a_sar_or_staff_network_details(stack):
    now = datetime.now(UTC)
    clip = cached_clip(seconds=4, width=320, height=240, gop_s=1.0).read_bytes()
    rec = (await stack.upload(clip, parts=2, officer_id="pc-cont", device_id=f"cam-cont-{uuid.uuid4().hex[:6]}",
                              recorded_start=iso(now - timedelta(hours=2)),
                              recorded_end=iso(now - timedelta(hours=2) + timedelta(seconds=4)))).json()
    rid = rec["id"]
    await stack.drain_jobs()
    sup = stack.auth("sgt-cont", "supervisor")
    secrets = {"ips": ["198.51.100.23", "203.0.113.77", "192.0.2.201", "127.0.0.1"],
               "agents": ["ViewerAgent-QX7/1.0", "ViewerAgent-ZP3/2.0", "CpsOtherAgent-KK1/3.0"]}
    for ip, ua in zip(secrets["ips"][:2], secrets["agents"][:2], strict=True):  # views from two places
        async with _client(stack, ip) as c:
            assert (await c.get(f"/v1/recordings/{rid}/media", headers={**sup, "User-Agent": ua})).status_code == 200
            assert (await c.get(f"/v1/recordings/{rid}", headers={**sup, "User-Agent": ua})).status_code == 200
    # Another case holds the same recording, is bundled, shared and downloaded by its CPS recipient.
    dis_b = stack.auth("dc-other", "disclosure")
    case_b = (await stack.client.post("/v1/cases", json={"urn": "HIDDEN-B-2291", "title": "R v Concealed Matter"},
                                      headers=dis_b)).json()
    assert (await stack.client.post(f"/v1/cases/{case_b['id']}/items", json={"recording_id": rid,
                                    "exhibit_ref": "HB/7"}, headers=dis_b)).status_code == 201
    bundle_b = (await stack.client.post(f"/v1/cases/{case_b['id']}/bundles", headers=dis_b)).json()["bundle_id"]
    await stack.drain_jobs()
    share_b = (await stack.client.post(f"/v1/bundles/{bundle_b}/shares", json={
        "recipient": "hidden-cps@example.org", "expires_at": _later(days=1), "max_downloads": 2},
        headers=dis_b)).json()
    async with _client(stack, secrets["ips"][2]) as c:
        assert (await c.get(_path(share_b["url"]), headers={"User-Agent": secrets["agents"][2]})).status_code == 200
    # A subject access request, a covert-source mark and a restriction, each lifted again.
    sar, disclosed, _ = await _sar_disclosed(stack, rid, requester="Jane Hiddenrequester",
                                             description="grey van outside number 12")
    assert (await stack.client.get(_path(disclosed["url"]))).status_code == 200
    assert (await stack.client.post(f"/v1/recordings/{rid}/do-not-disclose", json={"reason": "covert source ALPHA-9"},
                                    headers=sup)).status_code == 201
    assert (await stack.client.request("DELETE", f"/v1/recordings/{rid}/do-not-disclose",
                                       json={"reason": "source withdrawn ZETA-4"}, headers=sup)).status_code == 204
    assert (await stack.client.post(f"/v1/recordings/{rid}/restrict", json={
        "people": ["sgt-cont"], "reason": "IOPC referral 4471"}, headers=sup)).status_code == 200
    assert (await stack.client.request("DELETE", f"/v1/recordings/{rid}/restrict",
                                       json={"reason": "IOPC closed 4471-X"}, headers=sup)).status_code == 200

    # The case being disclosed, built and downloaded by its own officer.
    dis_a = stack.auth("dc-case-a", "disclosure")
    case_a = (await stack.client.post("/v1/cases", json={"urn": "CASE-A-1", "title": "R v Open"},
                                      headers=dis_a)).json()
    assert (await stack.client.post(f"/v1/cases/{case_a['id']}/items", json={
        "recording_id": rid, "exhibit_ref": "JA/1", "clip_start_s": 1.0, "clip_end_s": 3.0},
        headers=dis_a)).status_code == 201
    bundle_a = (await stack.client.post(f"/v1/cases/{case_a['id']}/bundles", headers=dis_a)).json()["bundle_id"]
    await stack.drain_jobs()
    dl = await stack.client.get(f"/v1/bundles/{bundle_a}/download", headers=dis_a)
    assert dl.status_code == 200, dl.text
    z = zipfile.ZipFile(io.BytesIO(dl.content))

    forbidden = [case_b["urn"], case_b["id"], case_b["title"], "HB/7", "HB-7", bundle_b, share_b["share_id"],
                 "hidden-cps@example.org", sar["id"], disclosed["bundle_id"], disclosed["share_id"],
                 "Jane Hiddenrequester", "hidden.requester@example.org", "grey van", "sar-hidden", "dc-other",
                 "ALPHA-9", "ZETA-4", "4471", "user_agent", *secrets["ips"], *secrets["agents"]]
    for name in z.namelist():
        data = z.read(name)
        leaked = [s for s in forbidden if s.encode() in data]
        assert not leaked, f"{name} carries {leaked}"
    rows = list(csv.DictReader(io.StringIO(z.read("continuity.csv").decode())))
    assert list(rows[0]) == continuity.COLUMNS  # no ip column
    text = z.read("continuity.csv").decode()
    for action in ("sar.", "restricted", "do_not_disclose", "hold"):
        assert action not in text, action
    # ... and it still tells this case's story of the exhibit: capture, views and by whom, the case's
    # flag, the exhibit, the hash check and the clip, the bundle; other matters as one neutral line.
    story = [(r["recording_id"], r["action"], r["actor"]) for r in rows]
    assert (rid, "recording.created") in {(r, a) for r, a, _ in story}
    for expected in ((rid, "recording.media_accessed", "sgt-cont"),
                     (rid, "recording.viewed", "sgt-cont"), (rid, "recording.flagged", "dc-case-a"),
                     (rid, "case.item_added", "dc-case-a"), (rid, "recording.verified", "system:bundle-builder"),
                     (rid, "recording.clipped", "system:bundle-builder"), ("", "case.created", "dc-case-a"),
                     ("", "bundle.requested", "dc-case-a"), (rid, continuity.OTHER_MATTERS, "")):
        assert expected in story, (expected, story)
    assert sum(1 for r in rows if r["action"] == continuity.OTHER_MATTERS) == 1
    assert len([r for r in rows if r["action"] == "recording.media_accessed"]) == 2
    flagged = next(json.loads(r["details"]) for r in rows if r["action"] == "recording.flagged")
    assert flagged["reference"] == "CASE-A-1"


# --- 3. exhibit file names ------------------------------------------------------------------------------

async def _recording(stack) -> str:
    cached = getattr(stack, "_security_recording", None)
    if cached is None:
        data = cached_clip(seconds=4, width=320, height=240, gop_s=1.0).read_bytes()
        cached = (await stack.upload(data, parts=1, device_id=f"cam-names-{uuid.uuid4().hex[:6]}")).json()["id"]
        await stack.drain_jobs()
        stack._security_recording = cached
    return cached


async def _new_case(stack, dis) -> str:
    r = await stack.client.post("/v1/cases", json={"urn": f"N-{uuid.uuid4().hex[:10].upper()}", "title": "R v Names"},
                                headers=dis)
    return r.json()["id"]


REF = st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9/._-]{0,6}", fullmatch=True),
                st.tuples(st.sampled_from("JjSs1"), st.text("Jj/-_.1s", max_size=4)).map("".join))


@SETTINGS
@given(refs=st.lists(REF, min_size=2, max_size=6))
async def test_references_accepted_in_one_case_never_share_a_file_name(stack, refs):
    dis = stack.auth("dc-names", "disclosure")
    rid, cid = await _recording(stack), await _new_case(stack, dis)
    accepted: list[str] = []
    for ref in refs:
        r = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rid, "exhibit_ref": ref},
                                    headers=dis)
        clashes = [a for a in accepted if collision_key(a) == collision_key(ref)]
        if r.status_code == 201:
            assert not clashes, (ref, clashes)
            accepted.append(ref)
        else:  # refused only for a real clash, with a problem that names it
            assert r.status_code == 409 and clashes, (ref, r.text)
            problem = r.json()
            assert problem["type"].rsplit("/", 1)[1] in ("exhibit-file-name-taken", "duplicate-exhibit-ref")
            if ref not in accepted:
                assert problem["conflicts_with"] == clashes[0] and problem["file"] == exhibit_file_name(ref)
    names = [exhibit_file_name(a).casefold() for a in accepted]
    assert len(set(names)) == len(names)
    listed = (await stack.client.get(f"/v1/cases/{cid}", headers=dis)).json()
    assert sorted(i["exhibit_ref"] for i in listed["items"]) == sorted(accepted)  # refusals changed nothing


async def test_js_slash_1_and_js_dash_1_cannot_share_a_bundle(stack):
    dis = stack.auth("dc-names", "disclosure")
    rid, cid = await _recording(stack), await _new_case(stack, dis)
    flags_before = len((await stack.client.get(f"/v1/recordings/{rid}", headers=dis)).json()["retention"]["flags"])
    assert (await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rid, "exhibit_ref": "JS/1"},
                                    headers=dis)).status_code == 201
    for ref in ("JS-1", "js/1", "Js-1"):
        r = await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rid, "exhibit_ref": ref},
                                    headers=dis)
        assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/exhibit-file-name-taken") and "JS/1" in r.json()["detail"]
    # Two new references that collide, racing: exactly one gets in.
    racing = await asyncio.gather(*[stack.client.post(f"/v1/cases/{cid}/items", json={
        "recording_id": rid, "exhibit_ref": ref}, headers=dis) for ref in ("K/9", "K-9", "k/9", "K-9")])
    assert sorted(r.status_code for r in racing) == [201, 409, 409, 409]
    for ref in ("JS_1", "JS.1", "CON"):
        assert (await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rid, "exhibit_ref": ref},
                                        headers=dis)).status_code == 201
    flags_after = len((await stack.client.get(f"/v1/recordings/{rid}", headers=dis)).json()["retention"]["flags"])
    assert flags_after == flags_before + 5  # the refused ones flagged nothing
    bid = (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).json()["bundle_id"]
    await stack.drain_jobs()
    dl = await stack.client.get(f"/v1/bundles/{bid}/download", headers=dis)
    assert dl.status_code == 200, (await stack.client.get(f"/v1/bundles/{bid}", headers=dis)).text
    z = zipfile.ZipFile(io.BytesIO(dl.content))
    exhibits = json.loads(z.read("manifest.json"))["exhibits"]
    assert {e["exhibit_ref"]: e["file"] for e in exhibits} == {
        "JS/1": "JS-1.mp4", "JS_1": "JS_1.mp4", "JS.1": "JS.1.mp4", "CON": "_CON.mp4",
        next(r.json()["exhibit_ref"] for r in racing if r.status_code == 201): exhibits[1]["file"]}
    files = [n.casefold() for n in z.namelist()]
    assert len(set(files)) == len(files)
    for e in exhibits:
        assert hashlib.sha256(z.read(e["file"])).hexdigest() == e["sha256"]


# --- 8. a SAR's bundle is reachable only through its SAR ------------------------------------------------

async def test_sar_bundles_and_links_answer_404_on_the_bundle_and_share_endpoints(stack):
    now = datetime.now(UTC)
    clip = cached_clip(seconds=4, width=320, height=240, gop_s=1.0).read_bytes()
    rec = (await stack.upload(clip, parts=1, device_id=f"cam-sar8-{uuid.uuid4().hex[:6]}",
                              recorded_start=iso(now - timedelta(hours=3)),
                              recorded_end=iso(now - timedelta(hours=3) + timedelta(seconds=4)))).json()
    await stack.drain_jobs()
    sar, disclosed, sar_h = await _sar_disclosed(stack, rec["id"], requester="R. Subject", description="blue bike")
    bid, share_id, link = disclosed["bundle_id"], disclosed["share_id"], _path(disclosed["url"])
    assert (await stack.client.get(f"/v1/sars/{sar['id']}/disclosure", headers=sar_h)).json()["bundle"]["status"] == "ready"
    share_body = {"recipient": "anyone@example.org", "expires_at": _later(days=1), "max_downloads": 100}
    for who in (stack.auth("dc-8", "disclosure"), stack.auth("adm-8", "admin")):
        unknown = (await stack.client.get("/v1/bundles/bdl_unknown", headers=who)).json()
        answers = {
            "GET bundle": await stack.client.get(f"/v1/bundles/{bid}", headers=who),
            "GET download": await stack.client.get(f"/v1/bundles/{bid}/download", headers=who),
            "GET download ranged": await stack.client.get(f"/v1/bundles/{bid}/download",
                                                          headers={**who, "Range": "bytes=0-"}),
            "POST shares": await stack.client.post(f"/v1/bundles/{bid}/shares", json=share_body, headers=who),
            "GET shares": await stack.client.get(f"/v1/bundles/{bid}/shares", headers=who),
            "GET share": await stack.client.get(f"/v1/shares/{share_id}", headers=who),
            "DELETE share": await stack.client.delete(f"/v1/shares/{share_id}", headers=who),
        }
        for what, r in answers.items():
            assert r.status_code == 404, (what, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json" and b"PK" not in r.content, what
        # Indistinguishable from an id that does not exist.
        assert answers["GET bundle"].json()["type"] == unknown["type"]
        assert answers["GET bundle"].json()["detail"] == unknown["detail"].replace("bdl_unknown", bid)
    async with stack.ctx.sessions() as s:
        from sqlalchemy import func, select

        count = (await s.execute(select(func.count()).select_from(Share).where(Share.bundle_id == bid))).scalar_one()
        sar_share = await s.get(Share, share_id)
    assert count == 1 and sar_share.revoked_at is None  # no link was added, none revoked
    # The SAR's own link keeps working, and its SAR still reports it.
    dl = await stack.client.get(link)
    assert dl.status_code == 200 and zipfile.ZipFile(io.BytesIO(dl.content)).testzip() is None
    state = (await stack.client.get(f"/v1/sars/{sar['id']}/disclosure", headers=sar_h)).json()["share"]
    assert state["state"] == "active", state
