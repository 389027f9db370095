"""Seeding footage for the officer and supervisor e2e tests: clips docked through the real dock API, as
README.md "Docking a recording" shows, each on a camera of its own so tests never share objects."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from service.media.synth import make_clip

_CLIPS = itertools.count()


def _clip(folder: Path) -> bytes:
    """A new clip each time (a different tone), so one camera can dock several without duplicates."""
    n = next(_CLIPS)
    return make_clip(folder / f"e2e-clip-{n}.mp4", seconds=6, width=320, height=240, tone_hz=300 + 7 * n).read_bytes()


_DOCKS: dict[str, str] = {}


def _dock_token(console) -> str:
    if console.base not in _DOCKS:
        p = console.bwv("dock", "register", f"e2e-footage-dock-{uuid.uuid4().hex[:6]}")
        assert p.returncode == 0, p.stderr
        _DOCKS[console.base] = p.stdout.strip()
    return _DOCKS[console.base]


def new_device() -> str:
    return f"cam-e2e-{uuid.uuid4().hex[:8]}"


def dock(console, officer: str, device: str | None = None, *, clock_offset: timedelta = timedelta(0),
         wrong_sha: bool = False) -> str:
    """Dock one 6 s clip for ``officer`` on ``device`` (a new camera unless given); its recording id, or
    with ``wrong_sha`` the upload id of a completion the server refused (which raises a hash alert)."""
    data = _clip(console.data_dir.parent)
    now = datetime.now(UTC)
    device = device or new_device()
    body = {"device_id": device, "officer_id": officer, "filename": f"{device}.mp4", "content_type": "video/mp4",
            "size_bytes": len(data), "sha256": ("0" * 64) if wrong_sha else hashlib.sha256(data).hexdigest(),
            "recorded_start": (now - timedelta(minutes=30) + clock_offset).isoformat(),
            "recorded_end": (now - timedelta(minutes=30, seconds=-6) + clock_offset).isoformat(),
            "device_clock_at_dock": (now + clock_offset).isoformat()}
    with httpx.Client(base_url=console.base, timeout=60,
                      headers={"Authorization": f"Bearer {_dock_token(console)}"}) as c:
        r = c.post("/v1/uploads", json=body)
        assert r.status_code == 201, r.text
        up = r.json()["upload_id"]
        assert c.put(f"/v1/uploads/{up}/parts/1", content=data).status_code == 200
        r = c.post(f"/v1/uploads/{up}/complete")
        if wrong_sha:
            assert r.status_code == 422, r.text
            return up
        assert r.status_code == 201, r.text
        return r.json()["id"]


_TOKENS: dict[tuple[str, str, tuple[str, ...]], str] = {}


def client(console, sub: str, *roles: str) -> httpx.Client:
    """``console.api`` with the token kept for the session: each new token costs a ``bwv`` process."""
    key = (console.base, sub, roles)
    if key not in _TOKENS:
        _TOKENS[key] = console.token(sub, *roles)
    return httpx.Client(base_url=console.base, headers={"Authorization": f"Bearer {_TOKENS[key]}"}, timeout=60)
