"""Issue 12, property 7: restricted footage does not leak through listings (API.md, Recordings).

Restricted footage is looked for through every list, count and page a person can reach (recordings,
forecast, upcoming, holds, SARs and their candidates and items, cases and exhibits, alerts, devices,
sweeps, stats, and the console pages built on them), by people it is and is not opened to, with
hypothesis choosing both. Unrestricted control footage beside it must show up in the same lists, so a
list that is empty for some other reason cannot pass for one that hides. Holds and SAR windows still
protect it from a sweep past its ``delete_after``, and a SAR handler learns that it exists and whom to
ask, never which recordings it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from service.retention.sweep import sweep
from tests.fixtures.stack import iso
from tests.helpers import ADMIN, console_session

ROLES = ("officer", "supervisor", "disclosure", "sar_handler", "admin", "auditor")
# Who someone is, relative to the footage: its own officer, or one of the staff in the story.
PEOPLE = ("own", "sup", "dis", "sar", "adm", "psd", "other")
# One stack serves every example: each example names its own people, cameras and officer.
# No shrinking: each example builds a whole story (a minute's worth of shrinking per step), and a failure
# already names the list, the person and their roles.
SETTINGS = settings(max_examples=6, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass
class World:
    tag: str
    now: datetime
    opened: set[str]  # PEOPLE keys the restricted footage is opened to
    r_due: dict  # restricted, unprotected, due within days: forecast and upcoming would show it
    r_held: dict  # restricted, under a legal hold, a SAR window, a case and a SAR item
    c_due: dict  # the same two, unrestricted: controls
    c_held: dict
    legal_hold: dict
    case_id: str
    sar1: dict  # logged before the restriction, with both held recordings as items
    sar2: dict  # logged after it by a handler (named or not)
    r_item: str  # sar1's item for r_held

    def sub(self, key: str) -> str:
        return f"pc-{self.tag}" if key == "own" else f"{key}-{self.tag}"

    def secrets(self) -> dict[str, str]:
        return {f"{name} {field}": rec[field] for name, rec in (("due", self.r_due), ("held", self.r_held))
                for field in ("id", "sha256", "device_id", "filename")}


async def _upload(stack, w_tag: str, name: str, start: datetime, officer: str) -> dict:
    data = f"{name}-{uuid.uuid4().hex}-".encode() * 3000
    r = await stack.upload(data, parts=2, officer_id=officer, device_id=f"cam-{name}-{w_tag}",
                           filename=f"{name}-{w_tag}.mp4", recorded_start=iso(start),
                           recorded_end=iso(start + timedelta(minutes=4)))
    assert r.status_code == 201, r.text
    return r.json()


def _sar_body(now: datetime, officer: str) -> dict:
    return {"requester": "A. Member", "contact": "member@example.org", "received_at": iso(now),
            "description": "stopped in the street",
            "query": {"from": iso(now - timedelta(days=1)), "to": iso(now), "officer_id": officer}}


async def _world(stack, opened: set[str]) -> World:
    tag, now = uuid.uuid4().hex[:8], datetime.now(UTC)
    officer = f"pc-{tag}"
    boss = stack.auth(f"boss-{tag}", "supervisor")  # restricts, and is named only by chance (never here)
    r_due = await _upload(stack, tag, "secret-due", now - timedelta(days=27), officer)
    c_due = await _upload(stack, tag, "plain-due", now - timedelta(days=27), officer)
    r_held = await _upload(stack, tag, "secret-held", now - timedelta(hours=3), officer)
    c_held = await _upload(stack, tag, "plain-held", now - timedelta(hours=3), officer)
    await stack.drain_jobs()  # probes: test bytes are unreadable media, so each recording gets an alert

    # Before the restriction: exhibits in a case and items of a SAR, added by people who could see them.
    dis = stack.auth(f"dis-{tag}", "disclosure")
    case = await stack.client.post("/v1/cases", json={"urn": f"URN-{tag.upper()}", "title": "R v Doe"}, headers=dis)
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    for n, rec in enumerate((r_held, c_held), 1):
        r = await stack.client.post(f"/v1/cases/{case_id}/items", json={"recording_id": rec["id"],
                                                                        "exhibit_ref": f"AB/{n}"}, headers=dis)
        assert r.status_code == 201, r.text
    sar_h = stack.auth(f"sar-{tag}", "sar_handler")
    sar1 = await stack.client.post("/v1/sars", json=_sar_body(now, officer), headers=sar_h)
    assert sar1.status_code == 201, sar1.text
    r_item = ""
    for rec in (r_held, c_held):
        r = await stack.client.post(f"/v1/sars/{sar1.json()['id']}/items", json={"recording_id": rec["id"]},
                                    headers=sar_h)
        assert r.status_code == 201, r.text
        r_item = r_item or r.json()["id"]

    people = sorted(f"pc-{tag}" if k == "own" else f"{k}-{tag}" for k in opened)
    for rec in (r_due, r_held):
        r = await stack.client.post(f"/v1/recordings/{rec['id']}/restrict",
                                    json={"people": people, "reason": "serious incident"}, headers=boss)
        assert r.status_code == 200, r.text

    # After it: a legal hold by query and a second SAR, placed by people who may not see it.
    hold = await stack.client.post("/v1/holds", json={
        "kind": "legal", "reference": f"LH/{tag}", "reason": "civil claim",
        "query": {"officer_id": officer, "from": iso(now - timedelta(days=1)), "to": iso(now)}},
        headers=stack.auth(f"sup-{tag}", "supervisor"))
    assert hold.status_code == 201, hold.text
    sar2 = await stack.client.post("/v1/sars", json=_sar_body(now, officer), headers=sar_h)
    assert sar2.status_code == 201, sar2.text
    return World(tag, now, opened, r_due, r_held, c_due, c_held, hold.json(), case_id, sar1.json(),
                 sar2.json(), r_item)


async def _look(stack, w: World, key: str, roles: set[str], seq: int) -> None:
    """Everything this person can list; the restricted footage's identity must appear in none of it
    unless it is opened to them, and the controls must appear wherever their roles reach."""
    sub = w.sub(key) if key != "other" else f"other{seq}-{w.tag}"
    h = stack.auth(sub, *sorted(roles))
    named = key in w.opened or "auditor" in roles
    sees_plain = bool(roles & {"supervisor", "disclosure", "admin", "sar_handler", "auditor"}) or (
        key == "own" and "officer" in roles)
    far = iso(w.now + timedelta(days=40))
    urls = {
        "recordings": f"/v1/recordings?officer_id={w.sub('own')}&limit=500",
        "recordings by device": f"/v1/recordings?device_id={w.r_held['device_id']}&limit=500",
        "recordings by time": f"/v1/recordings?from={iso(w.now - timedelta(days=30))}&limit=500",
        "forecast": f"/v1/retention/forecast?as_of={far}&limit=500",
        "upcoming": "/v1/retention/upcoming?days=7&limit=500",
        "holds": "/v1/holds?limit=500",
        "legal hold": f"/v1/holds/{w.legal_hold['id']}",
        "sar1 hold": f"/v1/holds/{w.sar1['hold_id']}",
        "sar2 hold": f"/v1/holds/{w.sar2['hold_id']}",
        "sars": "/v1/sars?limit=500",
        "sar1": f"/v1/sars/{w.sar1['id']}",
        "sar2": f"/v1/sars/{w.sar2['id']}",
        "sar1 candidates": f"/v1/sars/{w.sar1['id']}/candidates",
        "sar2 candidates": f"/v1/sars/{w.sar2['id']}/candidates",
        "cases": "/v1/cases?limit=500",
        "case": f"/v1/cases/{w.case_id}",
        "alerts": "/v1/alerts?kind=unreadable_media&limit=500",
        "sweeps": "/v1/retention/sweeps",
        "stats": "/v1/stats",
    }
    got = {name: await stack.client.get(url, headers=h) for name, url in urls.items()}
    for name, r in got.items():
        assert r.status_code in (200, 403), (name, r.status_code, r.text)
    ok = {name: r.json() for name, r in got.items() if r.status_code == 200}
    assert ok, roles  # every role reaches some list

    # The direct reads agree with the lists: the footage itself is not found, never forbidden.
    direct = await stack.client.get(f"/v1/recordings/{w.r_held['id']}", headers=h)
    assert direct.status_code == (200 if named else 404), direct.text
    if roles & {"sar_handler", "auditor"}:
        item = await stack.client.get(f"/v1/sars/{w.sar1['id']}/items/{w.r_item}", headers=h)
        assert item.status_code == (200 if named else 404), item.text

    if not named:
        texts = {name: got[name].text for name in ok}
        # Devices are cameras, not footage: a camera's page may name its id, nothing about a recording.
        texts["devices"] = (await stack.client.get("/v1/devices?limit=500", headers=h)).text
        texts["device"] = (await stack.client.get(f"/v1/devices/{w.r_held['device_id']}", headers=h)).text
        for what, secret in w.secrets().items():
            for name, text in texts.items():
                if name.startswith("device") and what.endswith("device_id"):
                    continue
                assert secret not in text, f"{what} leaks through {name} to {sub} {sorted(roles)}"

    # Controls: the same lists do show unrestricted footage to whoever may see it.
    def ids(name: str, field: str = "items") -> set[str]:
        return {i["id"] for i in ok[name][field]} if name in ok else set()

    if sees_plain and "recordings" in ok:
        assert {w.c_due["id"], w.c_held["id"]} <= ids("recordings")
        assert (w.r_held["id"] in ids("recordings")) == named
        assert ok["recordings by device"]["items"] == ([] if not named else ok["recordings by device"]["items"])
    if "forecast" in ok:
        assert w.c_due["id"] in ids("forecast") and (w.r_due["id"] in ids("forecast")) == named
    if "upcoming" in ok and (roles & {"supervisor", "admin"} or key == "own"):
        assert w.c_due["id"] in ids("upcoming")
    for name in ("legal hold", "sar1 hold", "sar2 hold"):
        if name in ok:
            assert w.c_held["id"] in ok[name]["recording_ids"]
            assert (w.r_held["id"] in ok[name]["recording_ids"]) == named
            assert ok[name]["recordings"] == len(ok[name]["recording_ids"])
    if "holds" in ok:
        listed = {x["id"]: x for x in ok["holds"]["items"]}
        assert listed[w.legal_hold["id"]]["recordings"] == (2 if named else 1)
    for name in ("sar1", "sar2"):
        if name in ok:
            sar = ok[name]
            assert sar["restricted"] == ({"count": 0, "contact": []} if named else
                                         {"count": 1, "contact": sorted(w.sub(k) for k in w.opened)})
            assert {c["id"] for c in ok[f"{name} candidates"]} == (
                {w.c_held["id"], w.r_held["id"]} if named else {w.c_held["id"]})
    if "sar1" in ok:
        assert [i["recording_id"] for i in ok["sar1"]["items"]] == (
            [w.r_held["id"], w.c_held["id"]] if named else [w.c_held["id"]])
        listed = {x["id"]: x for x in ok["sars"]["items"]}
        assert listed[w.sar1["id"]]["item_count"] == (2 if named else 1)
    if "case" in ok:
        assert [i["recording_id"] for i in ok["case"]["items"]] == (
            [w.r_held["id"], w.c_held["id"]] if named else [w.c_held["id"]])
        listed = {x["id"]: x for x in ok["cases"]["items"]}
        assert listed[w.case_id]["exhibits"] == (2 if named else 1)
    if "alerts" in ok:
        about = {a["subject_id"] for a in ok["alerts"]["items"]}
        assert w.c_held["id"] in about and (w.r_held["id"] in about) == named

    # The console pages are built on the same functions, so they inherit all of it.
    cookie = await console_session(stack, sub, sorted(roles))
    pages = ["/ui/officer", f"/ui/recordings?officer_id={w.sub('own')}", "/ui/supervisor/holds",
             "/ui/supervisor/alerts", f"/ui/supervisor/devices/{w.r_held['device_id']}", "/ui/sar",
             f"/ui/sar/{w.sar1['id']}", f"/ui/sar/{w.sar2['id']}", "/ui/disclosure/cases",
             f"/ui/disclosure/cases/{w.case_id}", f"/ui/disclosure/cases/{w.case_id}/search"]
    shown = 0
    for url in pages:
        page = await stack.client.get(url, headers=cookie)
        assert page.status_code in (200, 403), (url, page.status_code)
        if page.status_code != 200:
            continue
        shown += 1
        if not named:
            for what, secret in w.secrets().items():
                if url.startswith("/ui/supervisor/devices") and what.endswith("device_id"):
                    continue
                assert secret not in page.text, f"{what} leaks through {url} to {sub} {sorted(roles)}"
        if url == f"/ui/sar/{w.sar2['id']}":
            assert ('data-testid="restricted-notice"' in page.text) == (not named)
    assert shown or roles == {"auditor"}


@SETTINGS
@given(opened=st.sets(st.sampled_from(PEOPLE[:-1]), min_size=1),
       lookers=st.lists(st.tuples(st.sampled_from(PEOPLE), st.sets(st.sampled_from(ROLES), min_size=1)),
                        min_size=1, max_size=3))
async def test_restricted_footage_appears_in_no_list_of_anyone_it_is_not_opened_to(stack, opened, lookers):
    w = await _world(stack, opened)
    # Hypothesis picks people with any mix of roles, named or not; then each of the staff in the story
    # not picked yet looks with their usual role. One look (and one console account) per person.
    usual = [("own", {"officer"}), ("sup", {"supervisor"}), ("dis", {"disclosure"}), ("sar", {"sar_handler"}),
             ("adm", {"admin"})]
    seen: set[str] = set()
    for seq, (key, roles) in enumerate(lookers + usual):
        ident = w.sub(key) if key != "other" else f"other{seq}"
        if ident in seen:
            continue
        seen.add(ident)
        await _look(stack, w, key, roles, seq)


async def test_holds_and_sar_windows_protect_restricted_footage_the_holder_cannot_see(stack):
    stack.ctx.settings.allow_clock_override = True
    tag, now = uuid.uuid4().hex[:8], datetime.now(UTC)
    officer = f"pc-{tag}"
    rec = await _upload(stack, tag, "secret", now - timedelta(hours=3), officer)
    plain = await _upload(stack, tag, "plain", now - timedelta(hours=3), f"pc2-{tag}")
    sup = stack.auth("sup-1", "supervisor")
    r = await stack.client.post(f"/v1/recordings/{rec['id']}/restrict",
                                json={"people": ["psd-7", "dci-2"], "reason": "death after contact"}, headers=sup)
    assert r.status_code == 200, r.text
    # A supervisor and a SAR handler who cannot see it place a legal hold and log a SAR over its window.
    hold = await stack.client.post("/v1/holds", json={
        "kind": "legal", "reference": "LH/9", "reason": "claim",
        "query": {"officer_id": officer, "from": iso(now - timedelta(days=1)), "to": iso(now)}}, headers=sup)
    assert hold.status_code == 201 and hold.json()["recording_ids"] == [] and hold.json()["recordings"] == 0
    sar_h = stack.auth("sar-1", "sar_handler")
    sar = await stack.client.post("/v1/sars", json=_sar_body(now, officer), headers=sar_h)
    assert sar.status_code == 201, sar.text
    assert sar.json()["candidates"] == []
    assert sar.json()["restricted"] == {"count": 1, "contact": ["dci-2", "psd-7"]}
    # Both still cover it (what an auditor sees), and nothing lists it as due.
    auditor = stack.auth("aud", "auditor")
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=auditor)).json()
    assert {x["id"] for x in got["retention"]["holds"]} == {hold.json()["id"], sar.json()["hold_id"]}
    assert got["retention"]["delete_after"] is None

    far = now + timedelta(days=60)
    fc = (await stack.client.get(f"/v1/retention/forecast?as_of={iso(far)}&limit=500", headers=auditor)).json()
    assert rec["id"] not in {i["id"] for i in fc["items"]} and plain["id"] in {i["id"] for i in fc["items"]}
    report = await sweep(stack.ctx, ADMIN, as_of=far)
    assert plain["id"] in {rid for rid, _ in report.items} and rec["id"] not in {rid for rid, _ in report.items}
    # Released one protection at a time: the SAR window alone still keeps it ...
    rel = await stack.client.request("DELETE", f"/v1/holds/{hold.json()['id']}", json={"reason": "settled"},
                                     headers=sup)
    assert rel.status_code == 200 and rel.json()["recording_ids"] == []
    assert rec["id"] not in {rid for rid, _ in (await sweep(stack.ctx, ADMIN, as_of=far)).items}
    assert (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=auditor)).json()["status"] == "active"
    # ... and once the SAR closes, the default rule applies again: the sweep takes it (it was the holds).
    closed = await stack.client.post(f"/v1/sars/{sar.json()['id']}/close", json={"outcome": "no data held"},
                                     headers=sar_h)
    assert closed.status_code == 200 and closed.json()["restricted"] == {"count": 1, "contact": ["dci-2", "psd-7"]}
    # (On S3 the holds' COMPLIANCE retention outlives them until it runs out: storage refuses until then,
    # service/retention/objectlock.py.)
    expected = [] if stack.mode == "pg_s3" else [rec["id"]]
    assert [rid for rid, _ in (await sweep(stack.ctx, ADMIN, as_of=far)).items] == expected


async def test_footage_restricted_after_it_was_added_cannot_leave_through_a_bundle_or_disclosure(stack):
    tag, now = uuid.uuid4().hex[:8], datetime.now(UTC)
    officer = f"pc-{tag}"
    rec = await _upload(stack, tag, "secret", now - timedelta(hours=3), officer)
    dis, sar_h = stack.auth("dis-1", "disclosure"), stack.auth("sar-1", "sar_handler")
    cid = (await stack.client.post("/v1/cases", json={"urn": f"U-{tag.upper()}", "title": "t"}, headers=dis)).json()["id"]
    assert (await stack.client.post(f"/v1/cases/{cid}/items", json={"recording_id": rec["id"], "exhibit_ref": "A/1"},
                                    headers=dis)).status_code == 201
    sar = (await stack.client.post("/v1/sars", json=_sar_body(now, officer), headers=sar_h)).json()
    assert (await stack.client.post(f"/v1/sars/{sar['id']}/items", json={"recording_id": rec["id"]},
                                    headers=sar_h)).status_code == 201
    r = await stack.client.post(f"/v1/recordings/{rec['id']}/restrict",
                                json={"people": ["psd-7"], "reason": "incident"}, headers=stack.auth("sup", "supervisor"))
    assert r.status_code == 200, r.text

    for url, who in ((f"/v1/cases/{cid}/bundles", dis), (f"/v1/sars/{sar['id']}/disclose", sar_h)):
        refused = await stack.client.post(url, headers=who)
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["type"].endswith("/restricted-footage") and body["count"] == 1 and body["contact"] == ["psd-7"]
        assert rec["id"] not in refused.text and rec["sha256"] not in refused.text
    # Refused means nothing changed: no bundle, no link, no job.
    assert (await stack.client.get(f"/v1/cases/{cid}/bundles", headers=dis)).json()["items"] == []
    assert (await stack.client.get(f"/v1/sars/{sar['id']}", headers=sar_h)).json()["bundle_id"] is None
    # The people it is opened to may still send it (a disclosure officer named on it).
    await stack.client.post(f"/v1/recordings/{rec['id']}/restrict", json={"people": ["psd-7", "dis-1"],
                                                                          "reason": "CPS needs it"},
                            headers=stack.auth("psd-7", "supervisor"))
    assert (await stack.client.post(f"/v1/cases/{cid}/bundles", headers=dis)).status_code == 202
