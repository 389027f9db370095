"""The import manifest (issue 17) as properties: whatever a row holds, it is either a row to import, whose
path stays inside the import root, or a refusal with a reason; the manifest's SHA-256 names its bytes; a
needs_working_copy decision holds for every container browsers play."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import PurePosixPath

from hypothesis import given, settings
from hypothesis import strategies as st

from service.imports.manifest import parse
from service.media.workingcopy import needs_working_copy

COLUMNS = ["path", "device_id", "officer_id", "recorded_start", "recorded_end", "source", "sha256", "category",
           "reference"]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
path_parts = st.sampled_from(["a", "..", ".", "", "/", "b.mp4", "\\", "c d", "\x00", "~", "x/../../y"])


def _csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


row = st.fixed_dictionaries({
    "path": st.one_of(text, st.lists(path_parts, max_size=5).map("/".join)),
    "device_id": st.one_of(text, st.just("cam-1")),
    "officer_id": st.one_of(text, st.just("pc-1")),
    "recorded_start": st.one_of(text, st.just("2019-06-01T10:00:00Z")),
    "recorded_end": st.one_of(text, st.just("2019-06-01T10:05:00Z")),
    "source": st.sampled_from(["", "bwv", "cctv", "audio", "tape"]),
    "sha256": st.one_of(st.just(""), st.just("a" * 64), text),
    "category": st.sampled_from(["", "evidence", "x"]),
    "reference": st.sampled_from(["", "CR/1/19"]),
})


@settings(max_examples=200, deadline=None)
@given(st.lists(row, max_size=6))
def test_every_row_is_imported_inside_the_root_or_refused_with_a_reason(rows):
    raw = _csv(rows)
    m = parse(raw, "m.csv", system="legacy")
    assert m.sha256 == hashlib.sha256(raw).hexdigest()
    assert sorted([r.number for r in m.rows] + [r.number for r in m.refusals]) == list(range(1, len(rows) + 1))
    for r in m.rows:
        p = PurePosixPath(r.path)
        assert not p.is_absolute() and ".." not in p.parts and "\x00" not in r.path
        assert r.recorded_start <= r.recorded_end and (not r.category or r.reference)
        assert r.content_type.startswith(("video/", "audio/")) and "/" not in r.filename
        assert r.provenance.original_filename == r.path
    assert all(f.reason for f in m.refusals)


def test_a_json_manifest_reads_like_a_csv():
    raw = b'[{"path": "a.wav", "device_id": "iccs", "officer_id": "pc-1", "recorded_start": "2020-01-01T00:00:00Z",' \
          b' "recorded_end": "2020-01-01T00:01:00Z", "source": "audio", "system": "ICCS"}]'
    m = parse(raw, "m.json", system="legacy")
    assert [r.source for r in m.rows] == ["audio"] and m.rows[0].provenance.system == "ICCS"
    assert m.rows[0].content_type == "audio/wav"


@given(st.sampled_from(["video/mp4", "video/webm", "audio/mp4", "audio/wav", "audio/mpeg", "audio/ogg"]),
       st.sampled_from([None, "h264", "vp9", "av1"]), st.sampled_from([None, "aac", "mp3", "opus"]))
def test_what_browsers_play_needs_no_working_copy(kind, video, audio):
    if kind.startswith("audio/"):
        video = None
    assert not needs_working_copy({"readable": True, "media_type": kind, "video_codec": video, "audio_codec": audio})
    assert needs_working_copy({"readable": True, "media_type": "video/x-dav", "video_codec": "h264"})
    assert not needs_working_copy({"readable": False, "media_type": "video/x-dav"})
