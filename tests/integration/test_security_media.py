"""Issue 12, properties 4 and 5, tried the way an attacker would, on both stacks.

4. Media is served as media: only video/* and audio/* are docked (415 otherwise, nothing created),
   and every media response carries the probed container's type (or application/octet-stream),
   ``Content-Disposition: attachment`` and ``Content-Security-Policy: sandbox``.
5. ffmpeg and ffprobe read only the file in front of them: a docked HLS playlist, DASH manifest,
   concat list or a mov whose track points at another file opens nothing else (a TCP listener and a
   FIFO tripwire see nobody), the recording is kept with ``media.readable=false``, and in S3 mode no
   credential ever appears on an ffmpeg/ffprobe command line.

Each crafted file is first shown to be live: a permissive ffprobe (ffmpeg's own defaults, or the
whitelists this code used before) does reach the listener, the tripwire or the other recording.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import stat
import struct
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.ingest.schemas import UploadCreate, is_media_type
from service.media.clip import ClipError, cut, cut_async
from service.media.probe import probe
from service.media.redact import RedactionError, redact, redact_async
from service.media.source import StoredObject, media_source
from service.recordings.models import Recording
from tests.fixtures.media import cached_clip
from tests.fixtures.s3 import TEST_ENV
from tests.helpers import Unchanged, assert_problem, console_session, state

OCTET = "application/octet-stream"
# service.media re-exports functions named like its modules (probe, redact), so attribute imports of
# the modules would get the functions.
ffmpeg_mod = importlib.import_module("service.media._ffmpeg")


# ---- tools ----------------------------------------------------------------------------------------

class Listener:
    """A TCP port on 127.0.0.1 that counts every connection made to it (and hangs up at once)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


class Tripwire:
    """A FIFO: opening it to read unblocks our writer, so any reader, however brief, is recorded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.tripped = False
        self.closing = False
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # returns only once someone opens the FIFO to read
        # A reader blocks until we write or close, so it cannot have finished before this line.
        self.tripped = self.tripped or not self.closing
        try:
            os.write(fd, b"SECRET-" + uuid.uuid4().hex.encode())
        except OSError:
            pass
        os.close(fd)

    def close(self) -> bool:
        """Stop waiting; True when anyone else opened the FIFO."""
        self.closing = True
        if self.thread.is_alive():
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self.thread.join(5)
            os.close(fd)
        self.path.unlink(missing_ok=True)
        return self.tripped


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, capture_output=True)


def made(tmp: Path, name: str, *args: str) -> Path:
    path = tmp / name
    ffmpeg(*args, str(path))
    return path


def hls(*segments: str, key: str | None = None) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:10"]
    if key:
        lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="{key}"')
    for s in segments:
        lines += ["#EXTINF:7.0,", s]
    return ("\n".join([*lines, "#EXT-X-ENDLIST", ""])).encode()


def dash(base_url: str) -> bytes:
    return f"""<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT7S"
     minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
 <BaseURL>{base_url}</BaseURL>
 <Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="1000" codecs="avc1.42c01e">
  <BaseURL>seg.mp4</BaseURL></Representation></AdaptationSet></Period>
</MPD>
""".encode()


def concat(*names: str) -> bytes:
    return ("ffconcat version 1.0\n" + "".join(f"file {n}\n" for n in names)).encode()


def _boxes(buf: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[pos:pos + 8])
        yield kind, pos, size
        pos += size


def with_external_track(mp4: bytes, target_path: str) -> bytes:
    """*mp4* (moov after mdat) with its first track's data reference turned into a Mac alias record
    naming *target_path*: what a QuickTime reference movie holds. ffmpeg opens it only with
    ``-enable_drefs 1`` and only when it lies in the movie's own directory."""
    chain, start, end = [], 0, len(mp4)
    for want in (b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref"):
        pos, size = next((p, s) for k, p, s in _boxes(mp4, start, end) if k == want)
        chain.append((pos, size))
        start, end = pos + 8, pos + size
    path = target_path.encode()
    name = path.rsplit(b"/", 1)[-1]
    alias = (bytes(10) + bytes([3]) + b"Vol".ljust(27, b"\0") + bytes(12) + bytes([len(name)])
             + name.ljust(63, b"\0") + bytes(16) + struct.pack(">HH", 1, 1) + bytes(16)
             + struct.pack(">HH", 2, len(path)) + path + (b"\0" if len(path) % 2 else b"")
             + struct.pack(">hH", -1, 0))
    entry = struct.pack(">I4sI", 12 + len(alias), b"alis", 0) + alias  # flags 0: not self-contained
    body = struct.pack(">II", 0, 1) + entry
    dref = struct.pack(">I4s", 8 + len(body), b"dref") + body
    dpos, dsize = chain[-1]
    out = bytearray(mp4[:dpos] + dref + mp4[dpos + dsize:])
    for pos, size in chain[:-1]:
        struct.pack_into(">I", out, pos, size + len(dref) - dsize)
    return bytes(out)


def permissive_probe(path: Path, *extra: str) -> subprocess.CompletedProcess:
    """ffprobe as this code ran it before issue 12: a file protocol whitelist at most, no demuxer limit."""
    return subprocess.run(["ffprobe", "-v", "error", *extra, "-show_streams", "-of", "json", f"file:{path}"],
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


# ---- 4. only footage is docked ----------------------------------------------------------------------

NOT_FOOTAGE = [
    "text/html", "TEXT/HTML", " text/html ", "image/svg+xml", "application/xhtml+xml", "application/xml",
    "text/xml", "application/javascript", "text/plain", "application/pdf", "application/octet-stream",
    "application/mp4", "application/vnd.apple.mpegurl", "application/x-mpegurl", "application/dash+xml",
    "multipart/x-mixed-replace", "image/png", "video/mp4; charset=utf-8", "video/mp4;charset=utf-8",
    "video/mp4 ; codecs=avc1", "text/html; x=video/mp4", "video/mp4, text/html", "video/mp4,text/html",
    "video/mp4\r\nContent-Type: text/html", "video/mp4\ntext/html", "video/mp4\x00text/html", "video/",
    "video", "video/*", "audio//mp4", "videos/mp4", "xvideo/mp4", "video /mp4", "video/ mp4",
    "video/mp4 text/html", "vídeo/mp4", "video/mp4\u2028x", "text", "", "v" * 200, "video/" + "x" * 100,
]


async def test_uploads_that_are_not_video_or_audio_are_refused_with_415_and_change_nothing(stack):
    async with Unchanged(stack):
        for ctype in NOT_FOOTAGE:
            meta = stack.upload_meta(b"<html><script>alert(1)</script></html>", content_type=ctype,
                                     device_id="cam-415")
            r = await stack.client.post("/v1/uploads", json=meta, headers=stack.dock)
            body = assert_problem(r, 415, slug="unsupported-media-type")
            assert len(body["detail"]) < 400, ctype
    for ctype, stored in (("video/mp4", "video/mp4"), ("VIDEO/MP4", "video/mp4"), (" audio/x-wav ", "audio/x-wav"),
                          ("video/quicktime", "video/quicktime"), ("video/x-ms-asf", "video/x-ms-asf")):
        data = os.urandom(64)
        r = await stack.upload(data, parts=1, content_type=ctype, device_id="cam-ok")
        assert r.status_code == 201, (ctype, r.text)
        assert r.json()["content_type"] == stored


@given(st.one_of(
    st.text(max_size=80),
    st.builds(lambda p, s, q: p + s + q, st.sampled_from(["video/", "audio/", "VIDEO/", " video/", "text/"]),
              st.text(min_size=0, max_size=30), st.sampled_from(["", ";", "; charset=x", ",", "\n", " ", "\x00"]))))
def test_only_bare_video_and_audio_types_pass(value):
    """Whatever the string, what is accepted is a bare video/* or audio/* token: no parameters, no
    second type, no whitespace or control character, short enough for the database column."""
    try:
        ctype = UploadCreate.model_validate({
            "device_id": "cam", "officer_id": "o", "filename": "a.mp4", "content_type": value, "size_bytes": 1,
            "sha256": "a" * 64, "recorded_start": "2026-01-01T00:00:00Z", "recorded_end": "2026-01-01T00:01:00Z",
            "device_clock_at_dock": "2026-01-01T00:02:00Z"}).content_type
    except ValueError:
        return  # a 422 (too long): refused either way
    if is_media_type(ctype):
        kind, _, sub = ctype.partition("/")
        assert kind in ("video", "audio") and sub and len(ctype) <= 100
        assert ctype.isascii() and ctype.isprintable()
        assert not any(c in sub for c in ";,/\\ \t\"'<>()=*"), ctype


@given(st.sampled_from(["video", "audio"]), st.text("abcdefghijklmnopqrstuvwxyz0123456789.+-", min_size=1,
                                                     max_size=40))
def test_every_bare_video_and_audio_type_is_accepted(kind, sub):
    assert is_media_type(f"{kind}/{sub}") == sub[0].isalnum()


def assert_served_safely(r, media_type: str) -> None:
    assert r.headers["content-type"].split(";")[0] == media_type, r.headers["content-type"]
    assert r.headers["content-disposition"].startswith("attachment"), r.headers["content-disposition"]
    assert r.headers["content-security-policy"] == "sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_html_docked_as_video_is_served_as_a_download_in_a_sandbox(stack):
    page = b"<!doctype html><html><body><script>fetch('/v1/recordings').then(r=>r.text())</script></body></html>"
    rec = (await stack.upload(page, parts=1, filename="clip.mp4", content_type="video/mp4")).json()
    sup = stack.auth("sup-html", "supervisor")
    url = f"/v1/recordings/{rec['id']}/media"
    pending = await stack.client.get(url, headers=sup)  # before the probe has said anything
    assert pending.content == page
    assert_served_safely(pending, OCTET)
    await stack.drain_jobs()
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
    assert got["media"]["readable"] is False and got["status"] == "active"
    for headers in ({}, {"Range": "bytes=10-"}, {"Range": "bytes=-5"}):
        r = await stack.client.get(url, headers={**sup, **headers})
        assert r.status_code == (206 if headers else 200)
        assert_served_safely(r, OCTET)
    cookie = await console_session(stack, "sup-html-web", ["supervisor"])
    for headers in ({}, {"Range": "bytes=0-9"}):
        r = await stack.client.get(f"/ui/recordings/{rec['id']}/media", headers={**cookie, **headers})
        assert r.status_code == (206 if headers else 200) and r.content == page[:len(r.content)]
        assert_served_safely(r, OCTET)


async def test_footage_is_served_as_the_container_the_probe_found(stack, tmp_path):
    """The dock's word is never served: each file is declared as something it is not."""
    src = cached_clip(seconds=2, width=160, height=120)
    cases = [
        (src, "video/quicktime", "video/mp4"),
        (made(tmp_path, "a.ts", "-i", str(src), "-c", "copy"), "video/mp4", "video/mp2t"),
        (made(tmp_path, "a.mkv", "-i", str(src), "-c", "copy"), "video/mp4", "video/x-matroska"),
        (made(tmp_path, "a.wav", "-f", "lavfi", "-i", "sine=d=1"), "video/mp4", "audio/wav"),
        (made(tmp_path, "a.webm", "-f", "lavfi", "-i", "testsrc2=s=64x48:d=1", "-c:v", "libvpx",
              "-deadline", "realtime"), "audio/mpeg", "video/webm"),
        (made(tmp_path, "a.mov", "-i", str(src), "-c", "copy", "-f", "mov"), "video/mp4", "video/quicktime"),
    ]
    recs = []
    for path, declared, _ in cases:
        r = await stack.upload(path.read_bytes(), parts=1, content_type=declared, device_id=f"cam-{path.suffix}")
        assert r.status_code == 201, r.text
        recs.append(r.json())
    await stack.drain_jobs()
    sup = stack.auth("sup-types", "supervisor")
    for rec, (path, _, expected) in zip(recs, cases, strict=True):
        got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=sup)).json()
        assert got["media"]["readable"] is True, path
        r = await stack.client.get(f"/v1/recordings/{rec['id']}/media", headers={**sup, "Range": "bytes=4-11"})
        assert r.status_code == 206 and r.content == path.read_bytes()[4:12]
        assert_served_safely(r, expected)


# ---- 5. ffmpeg reads only the file in front of it ----------------------------------------------------

def test_crafted_files_are_live_but_the_media_code_opens_nothing_else(tmp_path):
    """Without the guards each file reaches out; through probe, cut and redact none of them does."""
    listener = Listener()
    secret = made(tmp_path, "secret.ts", "-f", "lavfi", "-i", "sine=d=7", "-c:a", "mp2", "-f", "mpegts")
    victim = tmp_path / "rec_VICTIM"
    victim.write_bytes(cached_clip(seconds=5, width=160, height=120).read_bytes())
    late = cached_clip(seconds=2, width=160, height=120, faststart=False).read_bytes()
    files = {
        "hls-url": hls(listener.url("seg.ts")),
        "hls-key": hls("secret.ts", key=listener.url("key")),
        "hls-file": hls(f"file:{secret}"),
        "dash-url": dash(listener.url("")),
        "concat-other-recording": concat("rec_VICTIM"),
        "mov-reference": with_external_track(late, str(tmp_path / "tripwire")),
    }
    try:
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
        # Live: ffmpeg's defaults (and the http whitelist this code gave S3 URLs) follow every one.
        for name in ("hls-url", "hls-key", "dash-url"):
            before = listener.connections
            permissive_probe(tmp_path / name, "-protocol_whitelist", "file,http,https,tls,tcp,httpproxy,crypto")
            assert listener.connections > before, name
        for name in ("hls-file", "concat-other-recording"):
            out = permissive_probe(tmp_path / name, "-protocol_whitelist", "file")
            assert out.returncode == 0 and b'"codec_type"' in out.stdout, (name, out.stderr)
        wire = Tripwire(tmp_path / "tripwire")
        permissive_probe(tmp_path / "mov-reference", "-enable_drefs", "1")
        assert wire.close(), "the reference movie should open its target when references are enabled"

        wire = Tripwire(tmp_path / "tripwire")
        before = listener.connections
        for name in files:
            info = probe(tmp_path / name)
            assert info.readable is False, (name, info)
            with pytest.raises((ClipError, ValueError)):
                cut(str(tmp_path / name), str(tmp_path / f"{name}.clip.mp4"), 0, 1)
            with pytest.raises((RedactionError, ValueError)):
                redact(str(tmp_path / name), str(tmp_path / f"{name}.red.mp4"), clip_end_s=1, auto_faces=False)
            assert not (tmp_path / f"{name}.clip.mp4").exists()
        assert listener.connections == before
        assert not wire.close()
    finally:
        listener.close()


async def test_docked_playlists_and_references_open_nothing_else(stack, tmp_path):
    listener = Listener()
    secret = made(tmp_path, "secret.ts", "-f", "lavfi", "-i", "sine=d=7", "-c:a", "mp2",
                  "-metadata", "service_name=SECRET-" + uuid.uuid4().hex, "-f", "mpegts")
    victim = (await stack.upload(cached_clip(seconds=5, width=160, height=120).read_bytes(),
                                 device_id="cam-victim")).json()
    async with stack.ctx.sessions() as s:
        victim_key = (await s.get(Recording, victim["id"])).storage_key
    recordings_dir = stack.settings.data_dir / "objects" / "recordings"
    wire_path = (recordings_dir if stack.mode == "embedded" else tmp_path) / f"rec_WIRE{uuid.uuid4().hex[:6]}"
    late = cached_clip(seconds=2, width=160, height=120, faststart=False).read_bytes()
    files = {
        "hls-url": hls(listener.url("seg.ts")),
        "hls-key": hls(listener.url("a.ts"), key=listener.url("key")),
        "hls-file": hls(f"file:{secret}"),
        "dash-url": dash(listener.url("")),
        "concat-url": b"ffconcat version 1.0\nfile '" + listener.url("x.ts").encode() + b"'\n",
        "concat-other-recording": concat(victim_key.rsplit("/", 1)[-1]),
        "mov-reference": with_external_track(late, str(wire_path)),
    }
    wire = Tripwire(wire_path)
    try:
        recs = {}
        for name, data in files.items():
            r = await stack.upload(data, parts=1, filename=f"{name}.mp4", content_type="video/mp4",
                                   device_id=f"cam-{name}")
            assert r.status_code == 201, r.text
            recs[name] = r.json()["id"]
        await stack.drain_jobs()
        sup = stack.auth("sup-attack", "supervisor")
        for name, rid in recs.items():
            got = (await stack.client.get(f"/v1/recordings/{rid}", headers=sup)).json()
            # Kept, never thrown away; but nothing another file holds was taken for this one.
            assert got["status"] == "active" and got["media"]["readable"] is False, (name, got["media"])
            media = await stack.client.get(f"/v1/recordings/{rid}/media", headers=sup)
            assert media.content == files[name]
            assert_served_safely(media, OCTET)
        alerts = (await stack.client.get("/v1/alerts?open=true&kind=unreadable_media", headers=sup)).json()["items"]
        assert set(recs.values()) <= {a["subject_id"] for a in alerts}
        assert listener.connections == 0
        assert not wire.close()
        everything = repr(await state(stack))  # every row of every table, every stored object
        assert "SECRET-" not in everything and str(secret) not in everything
    finally:
        wire.close()
        listener.close()


# ---- 5. no credential on a command line --------------------------------------------------------------

def _wrapper(tmp: Path, real: str) -> str:
    log_dir = tmp / "argv"
    log_dir.mkdir(exist_ok=True)
    script = tmp / f"wrap-{real}"
    script.write_text(f"""#!/bin/sh
f=$(mktemp {log_dir}/{real}.XXXXXX)
for a in "$@"; do printf '%s\\n' "$a" >> "$f"; done
exec {real} "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def _fetch_status(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


async def test_ffmpeg_command_lines_carry_no_credentials(stack, tmp_path, monkeypatch):
    """What ``ps`` shows of every ffprobe and ffmpeg the service runs (probe, clip, redaction)."""
    monkeypatch.setattr(ffmpeg_mod, "FFPROBE", _wrapper(tmp_path, "ffprobe"))
    monkeypatch.setattr(ffmpeg_mod, "FFMPEG", _wrapper(tmp_path, "ffmpeg"))
    data = cached_clip(seconds=3, width=160, height=120).read_bytes()
    rec = (await stack.upload(data, device_id="cam-argv")).json()
    await stack.drain_jobs()
    got = (await stack.client.get(f"/v1/recordings/{rec['id']}", headers=stack.auth("s", "supervisor"))).json()
    assert got["media"]["readable"] is True and got["media"]["duration_s"] > 2
    source = await media_source(stack.ctx.store, f"recordings/{rec['id']}")
    assert isinstance(source, StoredObject) == (stack.mode == "pg_s3")
    await asyncio.gather(cut_async(source, str(tmp_path / "c.mp4"), 0.5, 2.0),
                         cut_async(source, str(tmp_path / "d.mp4"), 1.0, 2.5, accurate=True),
                         redact_async(source, str(tmp_path / "r.mp4"), clip_end_s=1.5, auto_faces=False))

    argvs = [p.read_text().splitlines() for p in sorted((tmp_path / "argv").iterdir())]
    assert sum(p.name.startswith("ffprobe") for p in (tmp_path / "argv").iterdir()) >= 2  # the job, redact
    assert sum(p.name.startswith("ffmpeg") for p in (tmp_path / "argv").iterdir()) >= 4  # 2 cuts, 2 pipes
    secrets = [TEST_ENV["AWS_SECRET_ACCESS_KEY"], "X-Amz-", "Signature", "Credential", "AWSAccessKeyId",
               "Security-Token"]
    inputs = []
    for argv in argvs:
        joined = "\n".join(argv)
        assert not any(s in joined for s in secrets), joined
        assert "-format_whitelist" in argv and "-protocol_whitelist" in argv
        named = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-i"] or [argv[-1]]
        inputs += [n for n in named if n not in ("pipe:0",)]
    assert inputs
    if stack.mode == "pg_s3":
        assert all(n.startswith("http://127.0.0.1:") for n in inputs), inputs
        assert len(set(inputs)) == len(inputs)  # one token per invocation
        for n in set(inputs):  # and each is dead once its invocation has ended
            assert await asyncio.to_thread(_fetch_status, n) == 404
        guess = inputs[0].split("?t=")[0] + "?t=" + "A" * 43
        assert await asyncio.to_thread(_fetch_status, guess) == 404
    else:
        assert all(n.startswith("file:" + str(stack.settings.data_dir)) for n in inputs), inputs
