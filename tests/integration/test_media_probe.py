"""service.media.probe against the real ffprobe on clips made by the real ffmpeg."""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# tests/ is not an installed package and tests/integration has no __init__.py, so pytest does not
# put the repository root on sys.path by itself.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from service.media import MediaInfo, probe, probe_async  # noqa: E402
from tests.fixtures.media import cached_clip, make_garbage, truncate_copy  # noqa: E402

KEYS = {"readable", "duration_s", "width", "height", "video_codec", "audio_codec", "rotation", "container",
        "media_type"}


def _assert_unreadable(info: MediaInfo) -> None:
    assert info.readable is False
    assert info.error and len(info.error) <= 300
    assert (info.duration_s, info.width, info.height, info.video_codec, info.audio_codec) == (None,) * 5


def test_clip_with_audio_is_described() -> None:
    info = probe(str(cached_clip(seconds=3, width=320, height=240)))
    assert info.readable and info.error is None
    assert info.duration_s == pytest.approx(3, abs=0.2)
    assert (info.width, info.height) == (320, 240)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.container, info.media_type) == ("mov,mp4,m4a,3gp,3g2,mj2", "video/mp4")
    assert set(info.as_dict()) == KEYS


def test_rotation_flag_is_read(tmp_path) -> None:
    """A phone-style display matrix: the picture is shown turned, so redaction boxes use swapped sides."""
    import subprocess

    from service.media.redact import redact

    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(cached_clip(seconds=2, width=320, height=240)),
                    "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated)], check=True)
    info = probe(str(rotated))
    assert (info.width, info.height, info.rotation) == (320, 240, 90)
    assert probe(str(cached_clip(seconds=2, width=320, height=240))).rotation == 0
    out = redact(str(rotated), str(tmp_path / "out.mp4"), auto_faces=False)
    assert (out.width, out.height) == (240, 320)


def test_clip_without_audio_has_no_audio_codec() -> None:
    info = probe(str(cached_clip(seconds=3, audio=False)))
    assert info.readable
    assert info.video_codec == "h264" and info.audio_codec is None
    assert info.duration_s == pytest.approx(3, abs=0.2)


def test_audio_only_file_is_readable_without_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "voice.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-t", "2", "-acodec", "aac", str(path)], check=True, capture_output=True)
    info = probe(str(path))
    assert info.readable
    assert (info.width, info.height, info.video_codec) == (None, None, None)
    assert info.audio_codec == "aac"
    assert info.duration_s == pytest.approx(2, abs=0.2)


def test_long_clip_duration() -> None:
    info = probe(str(cached_clip(seconds=30, width=640, height=360)))
    assert info.readable
    assert info.duration_s == pytest.approx(30, abs=0.2)
    assert (info.width, info.height) == (640, 360)


def test_garbage_is_unreadable(tmp_path: Path) -> None:
    info = probe(str(make_garbage(tmp_path / "garbage.mp4")))
    _assert_unreadable(info)
    # Named .mp4, unrecognisable bytes go to the mov demuxer by extension ("moov atom not found");
    # named otherwise ffprobe says "Invalid data found when processing input".
    assert "moov atom not found" in info.error
    _assert_unreadable(probe(str(make_garbage(tmp_path / "garbage.bin"))))
    assert set(info.as_dict()) == KEYS


def test_empty_file_is_unreadable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _assert_unreadable(probe(str(empty)))


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    info = probe(str(tmp_path / "nope.mp4"))
    _assert_unreadable(info)
    assert "No such file" in info.error


def test_truncated_mp4_with_index_at_end_is_unreadable(tmp_path: Path) -> None:
    # A camera writes moov last; an upload cut at 30% has no index at all.
    cut = truncate_copy(cached_clip(seconds=3, faststart=False), tmp_path / "cut.mp4", 0.30)
    info = probe(str(cut))
    _assert_unreadable(info)
    assert "moov atom not found" in info.error
    assert "0x" not in info.error  # the per-run context pointer is stripped


def test_mp4_cut_inside_its_index_is_unreadable(tmp_path: Path) -> None:
    # ffprobe exits 0 here and reports the header's duration, but with zero streams.
    cut = truncate_copy(cached_clip(seconds=3, faststart=False), tmp_path / "cut.mp4", 0.99)
    info = probe(str(cut))
    _assert_unreadable(info)
    assert info.error == "no audio or video stream"


def test_truncated_faststart_mp4_still_probes_as_whole(tmp_path: Path) -> None:
    # What ffprobe really does: it reads only the index at the front, so a faststart file cut to
    # 30% describes itself as complete. Probing is no integrity check; the upload hash is.
    cut = truncate_copy(cached_clip(seconds=3), tmp_path / "cut.mp4", 0.30)
    info = probe(str(cut))
    assert info.readable
    assert info.duration_s == pytest.approx(3, abs=0.2)


def test_odd_local_names_are_not_protocols_or_options(tmp_path: Path) -> None:
    src = cached_clip(seconds=3)
    for name in ("-i.mp4", "concat:x.mp4", "a b?c.mp4"):
        target = tmp_path / name
        target.write_bytes(src.read_bytes())
        assert probe(str(target)).readable, name
    assert probe(Path(tmp_path / "-i.mp4")).readable  # PathLike works too


async def test_probe_async_matches_probe() -> None:
    path = str(cached_clip(seconds=3))
    assert await probe_async(path) == probe(path)


# --- over HTTP --------------------------------------------------------------------------------

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture()
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_probe_over_http(http_dir: tuple[str, Path]) -> None:
    base, root = http_dir
    shutil.copyfile(cached_clip(seconds=3), root / "clip.mp4")
    info = probe(f"{base}/clip.mp4?X-Amz-Signature=abc")
    assert info.readable
    assert info.duration_s == pytest.approx(3, abs=0.2)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")


def test_probe_over_http_index_at_end(http_dir: tuple[str, Path]) -> None:
    # http.server ignores Range, so ffprobe has to read through mdat to reach moov; it still works.
    base, root = http_dir
    shutil.copyfile(cached_clip(seconds=3, faststart=False), root / "late.mp4")
    assert probe(f"{base}/late.mp4").readable


def test_http_error_does_not_leak_presigned_query(http_dir: tuple[str, Path]) -> None:
    base, _ = http_dir
    info = probe(f"{base}/missing.mp4?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef")
    _assert_unreadable(info)
    assert "404" in info.error
    assert "AKIAEXAMPLE" not in info.error and "deadbeef" not in info.error


def test_silent_http_peer_times_out() -> None:
    # Accepts the connection and never answers: without a timeout ffprobe would wait forever.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        info = probe(f"http://127.0.0.1:{port}/clip.mp4", timeout_s=2)
        elapsed = time.monotonic() - started
    _assert_unreadable(info)
    assert "timed out" in info.error
    assert elapsed < 10
