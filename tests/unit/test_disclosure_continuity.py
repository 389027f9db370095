"""continuity.csv rows (issue 12, property 2) over any mix of audit events: this case's story is told,
nothing of another matter and no address or user agent ever is, and other matters are one neutral line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from service.disclosure import continuity
from service.disclosure.bundles import csv_bytes

REC, OTHER_REC = "rec_A", "rec_B"
SUBJECT = continuity.Subject("case_A", "URN-A", frozenset({"bdl_A1", "bdl_A2"}), frozenset({REC, OTHER_REC}))
SECRET, IP, UA = "SECRET-7Q", "10.9.8.7", "UA-SECRET-5Z"

_story = st.one_of(
    st.tuples(st.sampled_from(["recording.created", "upload.duplicate", "recording.probed", "recording.viewed",
                               "recording.media_accessed"]), st.sampled_from([REC, OTHER_REC]),
              st.just({"sha256": "abc", "range": [0, 9], "device_id": "cam-1"})),
    st.tuples(st.just("recording.flagged"), st.just(REC),
              st.just({"flag_id": "flg_A", "source": "case:case_A", "reference": "URN-A", "category": "evidence"})),
    st.tuples(st.just("recording.flagged"), st.just(REC),  # an officer's own flag: its free text stays home
              st.just({"flag_id": "flg_O", "source": None, "reference": SECRET, "reason": SECRET,
                       "category": "evidence"})),
    st.tuples(st.just("recording.unflagged"), st.just(REC), st.just({"flag_id": "flg_O", "reason": SECRET})),
    st.tuples(st.just("case.item_added"), st.just(REC), st.just({"case_id": "case_A", "exhibit_ref": "JA/1"})),
    st.tuples(st.sampled_from(["recording.clipped", "recording.verified"]), st.just(REC),
              st.just({"bundle_id": "bdl_A1", "sha256": "abc"})),
    st.tuples(st.sampled_from(["case.created", "bundle.requested"]), st.just("case_A"), st.just({"urn": "URN-A"})),
    st.tuples(st.sampled_from(["share.accessed", "share.refused", "bundle.downloaded"]),
              st.sampled_from(["bdl_A1", "bdl_A2"]), st.just({"share_id": "shr_A", "range": None})),
)
_other = st.one_of(
    st.tuples(st.just("recording.flagged"), st.just(REC),
              st.just({"flag_id": "flg_B", "source": "case:case_B", "reference": SECRET, "reason": SECRET})),
    st.tuples(st.just("recording.unflagged"), st.just(REC), st.just({"flag_id": "flg_B", "reason": SECRET})),
    st.tuples(st.just("case.item_added"), st.just(REC), st.just({"case_id": "case_B", "urn": SECRET})),
    st.tuples(st.sampled_from(["recording.clipped", "recording.verified"]), st.just(REC),
              st.just({"bundle_id": "bdl_B", "case_urn": SECRET})),
    st.tuples(st.one_of(st.sampled_from(["sar.item_added", "sar.redacted", "recording.restricted",
                                         "recording.do_not_disclose", "recording.deletion_refused"]),
                        st.from_regex(r"[a-z]{1,8}\.[a-z_]{1,12}", fullmatch=True)),
              st.sampled_from([REC, OTHER_REC]), st.just({"anything": SECRET})),
    st.tuples(st.sampled_from(["case.created", "share.accessed", "sar.disclosed"]),
              st.sampled_from(["case_B", "bdl_B", "sar_1"]), st.just({"urn": SECRET})),
)


def _event(seq: int, action: str, object_id: str, details: dict) -> SimpleNamespace:
    kind = "recording" if object_id.startswith("rec_") else "case" if object_id.startswith("case_") else "bundle"
    return SimpleNamespace(seq=seq, at=datetime(2026, 1, 1, tzinfo=UTC), actor=f"actor-{seq}", roles=["disclosure"],
                           action=action, object_type=kind, object_id=object_id, ip=IP, hash=f"h{seq}",
                           details={**details, "user_agent": UA, "ip": IP})


@given(st.lists(st.one_of(st.tuples(st.just(True), _story), st.tuples(st.just(False), _other)), max_size=30))
def test_only_this_cases_story_leaves(draws):
    events = [_event(n, *drawn) for n, (_, drawn) in enumerate(draws, start=1)]
    rows = continuity.rows(events, SUBJECT)
    out = csv_bytes(continuity.COLUMNS, rows).decode()
    for leak in (SECRET, IP, UA, "case_B", "bdl_B", "sar_1", "user_agent"):
        assert leak not in out, leak
    told = {r["seq"] for r in rows if r["seq"] != ""}
    neutral = [r for r in rows if r["action"] == continuity.OTHER_MATTERS]
    assert len(neutral) == len({r["recording_id"] for r in neutral})  # at most one a source
    for r in neutral:
        assert r["seq"] == r["at"] == r["actor"] == r["hash"] == ""  # it says nothing about them
    officer_flagged = False
    for (story, _), e in zip(draws, events, strict=True):
        if e.action == "recording.unflagged" and e.details["flag_id"] == "flg_O":
            story = officer_flagged  # unflagging a flag the story never showed tells of another matter
        officer_flagged |= e.action == "recording.flagged" and e.details["flag_id"] == "flg_O"
        assert (e.seq in told) == story, (e.action, e.object_id, e.details)
        if not story and e.object_id in SUBJECT.recording_ids:
            assert e.object_id in {r["recording_id"] for r in neutral}


def test_a_story_event_keeps_its_chain_position_and_allowed_details():
    events = [_event(1, "recording.flagged", REC, {"flag_id": "flg_A", "source": "case:case_A",
                                                   "reference": "URN-A", "reason": "exhibit JA/1", "clip": [1, 2],
                                                   "delete_after": None}),
              _event(2, "recording.media_accessed", REC, {"range": [0, 99]}),
              _event(3, "recording.restricted", REC, {"people": ["x"], "reason": SECRET})]
    rows = continuity.rows(events, SUBJECT)
    assert [(r["seq"], r["action"]) for r in rows] == [(1, "recording.flagged"), (2, "recording.media_accessed"),
                                                       ("", continuity.OTHER_MATTERS)]
    assert json.loads(rows[0]["details"]) == {"flag_id": "flg_A", "reference": "URN-A", "reason": "exhibit JA/1",
                                              "clip": [1, 2]}
    assert json.loads(rows[1]["details"]) == {"range": [0, 99]} and rows[1]["hash"] == "h2"
    assert "ip" not in continuity.COLUMNS
