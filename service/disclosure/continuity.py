"""``continuity.csv``: who did what, and when, to each exhibit's source for this case, and nothing else.

A bundle goes to the defence. The audit of a recording also holds other matters (another case it is
an exhibit in, a subject access request, a restriction, a do-not-disclose mark with its covert reason)
and staff network details; none of that may leave with it (API.md, DESIGN.md rule 9). So the file is
built from an allow-list: the actions of this case's story, each with the details it may tell. Every
other event of a source (whatever its action, including actions added later) is another matter and
appears only as one line per source that says no more than that such events exist. Addresses and user
agents never appear: the ``ip`` column is gone and no allowed detail carries one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from service.timeutil import iso

COLUMNS = ["recording_id", "seq", "at", "actor", "roles", "action", "details", "hash"]
OTHER_MATTERS = "other_matters"
OTHER_MATTERS_NOTE = "This source also has audit events about other matters; they are not part of this disclosure."


@dataclass(frozen=True)
class Subject:
    """The case a bundle is built for: its id, URN and bundles (the one being built among them)."""

    case_id: str
    urn: str
    bundle_ids: frozenset[str]
    recording_ids: frozenset[str]


def _keep(*keys: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: {k: d[k] for k in keys if k in d}


# Events on a source that belong to every case it is in (capture, dock, checks, views).
_SOURCE = {
    "recording.created": _keep("sha256", "size_bytes", "hash_verified_by", "hash_method", "device_id",
                               "officer_id", "recorded_start", "trusted_start", "time_trust", "drift_s", "source",
                               "provenance"),
    "upload.duplicate": _keep("device_id", "sha256"),
    "recording.probed": _keep("readable", "duration_s", "width", "height", "video_codec", "audio_codec"),
    "recording.viewed": _keep(),
    "recording.media_accessed": _keep("range", "copy"),  # its user agent stays in the force's audit
    # The conversion of a master browsers cannot play: both hashes and the tool that made the copy.
    "recording.working_copy_made": _keep("master_sha256", "working_copy_sha256", "size_bytes", "content_type",
                                         "ffmpeg", "master_container"),
    "recording.working_copy_failed": _keep("error"),
}
# Events on this case or its bundles (share links included).
_CASE = {
    "case.created": _keep("urn", "title"),
    "case.closed": _keep("urn", "reason"),
    "bundle.requested": _keep("bundle_id", "items"),
    "bundle.built": _keep("bundle_id", "sha256", "size_bytes", "items"),
    "bundle.downloaded": _keep("range"),
    "share.created": _keep("share_id", "recipient", "expires_at", "max_downloads"),
    "share.accessed": _keep("share_id", "recipient", "range", "bytes"),
    "share.refused": _keep("share_id", "recipient", "why", "range"),
    "share.interrupted": _keep("share_id", "bytes_sent"),
    "share.revoked": _keep("share_id", "reason"),
}
_FLAG_OF_CASE = _keep("flag_id", "category", "reference", "reason", "clip")
_FLAG_OF_OFFICER = _keep("flag_id", "category", "clip")  # its free-text reference may name another matter


def rows(events: Iterable[Any], subject: Subject) -> list[dict[str, Any]]:
    """The CSV rows for *events* (audit events of the sources, the case and its bundles, by seq)."""
    out, others = [], set()
    flag_view: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
    for e in events:
        details = e.details or {}
        on_source = e.object_type == "recording" and e.object_id in subject.recording_ids
        view = _view(e.action, details, subject, flag_view) if on_source else (
            _CASE.get(e.action) if e.object_id == subject.case_id or e.object_id in subject.bundle_ids else None)
        if view is None:
            if on_source:
                others.add(e.object_id)
            continue
        out.append({"recording_id": e.object_id if on_source else "", "seq": e.seq, "at": iso(e.at),
                    "actor": e.actor, "roles": " ".join(e.roles), "action": e.action,
                    "details": json.dumps(view(details), sort_keys=True, default=str), "hash": e.hash})
    out += [{"recording_id": rid, "seq": "", "at": "", "actor": "", "roles": "", "action": OTHER_MATTERS,
             "details": json.dumps({"note": OTHER_MATTERS_NOTE}), "hash": ""} for rid in sorted(others)]
    return out


def _view(action: str, d: dict[str, Any], subject: Subject,
          flag_view: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]):
    if action in _SOURCE:
        return _SOURCE[action]
    if action == "recording.flagged":
        source = d.get("source")
        view = _FLAG_OF_CASE if source == f"case:{subject.case_id}" else _FLAG_OF_OFFICER if source is None else None
        if view is not None:
            flag_view[d.get("flag_id")] = view
        return view
    if action == "recording.unflagged":
        # An unflagging says no more than its flag did: another matter's flag stays another matter.
        return _keep("flag_id", "category", "reason") if flag_view.get(d.get("flag_id")) is _FLAG_OF_CASE else (
            _keep("flag_id", "category") if d.get("flag_id") in flag_view else None)
    if action == "case.item_added" and d.get("case_id") == subject.case_id:
        return _keep("urn", "exhibit_ref", "clip", "accurate")
    if action in ("recording.clipped", "recording.verified") and d.get("bundle_id") in subject.bundle_ids:
        return _keep("bundle_id", "exhibit_ref", "clip", "sha256", "result")
    return None
