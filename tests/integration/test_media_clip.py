"""service.media.clip against the real ffmpeg on clips made by the real ffmpeg.

Sources are 20 s with a key frame exactly every 2 s (0, 2, 4, … 18 s), so where a stream-copy cut
must snap to is known: a copy cut can only start on a key frame.
"""

from __future__ import annotations

import filecmp
import functools
import json
import math
import os
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

# tests/integration has no __init__.py, so pytest does not put the repository root on sys.path.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from service.media import ClipError, ClipResult, cut, cut_async, cut_command, mp4_duration, probe  # noqa: E402
from tests.fixtures.media import cached_clip, make_garbage  # noqa: E402

GOP_S = 2.0
SOURCE_S = 20.0


def _source(width: int = 320, height: int = 240, **extra: object) -> Path:
    return cached_clip(seconds=SOURCE_S, width=width, height=height, gop_s=GOP_S, **extra)


def _video_packets(path: Path) -> list[tuple[float, bool]]:
    """(pts seconds, is key frame) of every video packet, as ffprobe reads them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
         "-of", "json", str(path)], capture_output=True, check=True, timeout=60).stdout
    return [(float(p["pts_time"]), "K" in p["flags"]) for p in json.loads(out)["packets"]]


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.startswith(".clip-")]


# --- stream copy ------------------------------------------------------------------------------

@pytest.mark.parametrize(("width", "height"), [(320, 240), (1280, 720)])
def test_copy_cut_is_within_one_gop(tmp_path: Path, width: int, height: int) -> None:
    out = tmp_path / "clip.mp4"
    result = cut(str(_source(width, height)), str(out), 5, 9)
    assert isinstance(result, ClipResult)
    assert (result.path, result.start_s, result.end_s, result.accurate) == (str(out), 5.0, 9.0, False)
    assert result.size_bytes == out.stat().st_size > 0
    info = probe(str(out))
    assert info.readable
    assert (info.width, info.height) == (width, height)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    # Snaps back to a key frame, never forward, so the asked range is always inside the clip.
    assert 4.0 - 0.05 <= info.duration_s <= 4.0 + GOP_S + 0.05
    assert result.duration_s == pytest.approx(info.duration_s, abs=0.002)


def test_copy_cut_lead_in_is_visible_not_hidden(tmp_path: Path) -> None:
    # Key frames at 4 and 6 s: a 5-9 s copy starts at the 4 s key frame and ends at 9 s. With
    # avoid_negative_ts=make_zero the 4-5 s lead-in is ordinary footage at 0-1 s: no edit list
    # hides it, so the file's duration (5 s) is what any player shows.
    out = tmp_path / "clip.mp4"
    result = cut(str(_source()), str(out), 5, 9)
    assert result.duration_s == pytest.approx(5.0, abs=0.05)
    packets = _video_packets(out)
    assert len(packets) == 125  # 5 s at 25 fps
    assert packets[0][1] is True  # starts on the key frame
    assert min(pts for pts, _ in packets) >= 0  # nothing before 0 for an edit list to hide
    assert sum(key for _, key in packets) == 3  # source key frames at 4, 6, 8 s


def test_copy_cut_on_a_key_frame_is_exact(tmp_path: Path) -> None:
    result = cut(str(_source()), str(tmp_path / "clip.mp4"), 6, 10)
    assert result.duration_s == pytest.approx(4.0, abs=0.05)


def test_whole_file(tmp_path: Path) -> None:
    result = cut(str(_source()), str(tmp_path / "all.mp4"), 0, None)
    assert result.end_s is None
    assert result.duration_s == pytest.approx(SOURCE_S, abs=0.1)
    assert probe(result.path).duration_s == pytest.approx(SOURCE_S, abs=0.1)


def test_end_past_the_source_cuts_to_the_end(tmp_path: Path) -> None:
    # ffmpeg treats -t past end of file as "until EOF": exit 0, no warning at -v error.
    # Copy: from the 14 s key frame to 20 s. Re-encode: 15 s to 20 s (plus up to one AAC frame).
    copy = cut(str(_source()), str(tmp_path / "copy.mp4"), 15, 30)
    assert copy.duration_s == pytest.approx(6.0, abs=0.05)
    exact = cut(str(_source()), str(tmp_path / "exact.mp4"), 15, 30, accurate=True)
    assert exact.duration_s == pytest.approx(5.0, abs=0.05)


def test_source_without_audio(tmp_path: Path) -> None:
    result = cut(str(_source(audio=False)), str(tmp_path / "mute.mp4"), 2, 6)
    info = probe(result.path)
    assert info.readable and info.video_codec == "h264" and info.audio_codec is None
    assert result.duration_s == pytest.approx(4.0, abs=0.05)


def test_data_tracks_are_dropped(tmp_path: Path) -> None:
    # A timecode (tmcd) data track, as some cameras write: "-map 0 -c copy" to mp4 fails on it
    # ("Could not find tag for codec none"), so only video and audio are mapped.
    src = tmp_path / "tc.mov"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(_source()), "-map", "0",
                    "-c", "copy", "-timecode", "01:00:00:00", str(src)], check=True, timeout=60)
    naive = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-map", "0",
                            "-c", "copy", "-f", "mp4", str(tmp_path / "naive.mp4")],
                           capture_output=True, timeout=60)
    assert naive.returncode != 0
    result = cut(str(src), str(tmp_path / "clip.mp4"), 4, 8)
    info = probe(result.path)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert result.duration_s == pytest.approx(4.0, abs=0.05)


# --- accurate (re-encoded) ----------------------------------------------------------------------

@pytest.mark.parametrize(("width", "height"), [(320, 240), (1280, 720)])
def test_accurate_cut_is_frame_exact(tmp_path: Path, width: int, height: int) -> None:
    out = tmp_path / "exact.mp4"
    result = cut(str(_source(width, height)), str(out), 5, 9, accurate=True)
    assert result.accurate is True
    assert result.duration_s == pytest.approx(4.0, abs=0.1)
    info = probe(str(out))
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert (info.width, info.height) == (width, height)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    packets = _video_packets(out)
    assert len(packets) == 100  # exactly 4 s at 25 fps
    assert packets[0][1] is True  # the new encode starts on its own key frame


# --- what is refused -----------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "end"), [
    (-1, 5), (5, 5), (6, 5), (math.nan, 5), (0, math.inf), (math.inf, None), (0, math.nan),
])
def test_invalid_ranges_raise_value_error(tmp_path: Path, start: float, end: float | None) -> None:
    out = tmp_path / "clip.mp4"
    with pytest.raises(ValueError):
        cut(str(_source()), str(out), start, end)
    assert not out.exists() and _no_temp_files(tmp_path)


@pytest.mark.parametrize("accurate", [False, True])
def test_start_at_or_past_the_end_raises_value_error(tmp_path: Path, accurate: bool) -> None:
    for start in (SOURCE_S, 25):
        with pytest.raises(ValueError, match="past the end"):
            cut(str(_source()), str(tmp_path / "clip.mp4"), start, None, accurate=accurate)
    # A duration the caller already knows is trusted, and no probing is needed.
    with pytest.raises(ValueError, match="past the end"):
        cut(str(_source()), str(tmp_path / "clip.mp4"), 12, 14, source_duration_s=10)
    assert not (tmp_path / "clip.mp4").exists() and _no_temp_files(tmp_path)


def test_why_the_end_is_checked(tmp_path: Path) -> None:
    # What ffmpeg does with a start past the end (here behind a wrong, too-long known duration):
    # a copy cut exits 0 holding the source's last GOP (18-20 s); a re-encode writes a file with
    # no streams at all, which cut() refuses.
    last_gop = cut(str(_source()), str(tmp_path / "copy.mp4"), 25, 30, source_duration_s=100)
    assert last_gop.duration_s == pytest.approx(GOP_S, abs=0.05)
    with pytest.raises(ClipError, match="no audio or video"):
        cut(str(_source()), str(tmp_path / "exact.mp4"), 25, 30, accurate=True, source_duration_s=100)
    assert not (tmp_path / "exact.mp4").exists() and _no_temp_files(tmp_path)


def test_garbage_raises_clean_clip_error(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    with pytest.raises(ClipError) as err:
        cut(str(make_garbage(tmp_path / "garbage.mp4")), str(out), 1, 2)
    message = str(err.value)
    assert "moov atom not found" in message
    assert "0x" not in message and "\n" not in message and len(message) <= 300
    assert not out.exists() and _no_temp_files(tmp_path)


def test_missing_source_raises_clip_error(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match="No such file"):
        cut(str(tmp_path / "nope.mp4"), str(tmp_path / "clip.mp4"), 1, 2)


def test_failure_leaves_an_existing_output_alone(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"previous clip")
    with pytest.raises(ClipError):
        cut(str(make_garbage(tmp_path / "garbage.mp4")), str(out), 1, 2)
    assert out.read_bytes() == b"previous clip"
    cut(str(_source()), str(out), 2, 4)
    assert probe(str(out)).readable  # and success replaces it


def test_odd_names_are_not_protocols_or_options(tmp_path: Path) -> None:
    for name in ("-i.mp4", "concat:x.mp4", "a b?c.mp4"):
        src = tmp_path / name
        shutil.copyfile(_source(), src)
        out = tmp_path / f"out-{name}"
        assert cut(str(src), str(out), 2, 4).duration_s == pytest.approx(2.0, abs=0.05), name
        assert probe(str(out)).readable, name


def test_command_seeks_on_the_input_and_copies() -> None:
    args = cut_command("/v/a.mp4", "/v/b.mp4", 5, 9)
    assert args.index("-ss") < args.index("-i") < args.index("-t")
    assert args[args.index("-t") + 1] == "4.000000"
    assert ["-c", "copy"] == args[args.index("-c"):args.index("-c") + 2]
    assert args[-1] == "file:/v/b.mp4" and "file:/v/a.mp4" in args
    accurate = cut_command("/v/a.mp4", "/v/b.mp4", 5, None, accurate=True)
    assert "-t" not in accurate and "libx264" in accurate and "-avoid_negative_ts" not in accurate


def test_mp4_header_duration_matches_ffprobe(tmp_path: Path) -> None:
    copy = cut(str(_source()), str(tmp_path / "copy.mp4"), 5, 9)
    exact = cut(str(_source()), str(tmp_path / "exact.mp4"), 3, 7.5, accurate=True)
    late_index = _source(faststart=False)
    for path in (copy.path, exact.path, str(_source()), str(late_index)):
        duration, tracks = mp4_duration(path)
        assert tracks == 2
        assert duration == pytest.approx(probe(path).duration_s, abs=0.002), path
    assert mp4_duration(make_garbage(tmp_path / "g.mp4")) == (None, 0)


async def test_cut_async_matches_cut(tmp_path: Path) -> None:
    a = cut(str(_source()), str(tmp_path / "a.mp4"), 5, 9)
    b = await cut_async(str(_source()), str(tmp_path / "b.mp4"), 5, 9)
    assert (b.start_s, b.end_s, b.duration_s, b.accurate) == (a.start_s, a.end_s, a.duration_s, a.accurate)
    assert filecmp.cmp(a.path, b.path, shallow=False)  # stream copy is deterministic


# --- over HTTP (a presigned S3 URL in production) ---------------------------------------------------

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture()
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("known_duration", [None, SOURCE_S])
def test_cut_over_http(http_dir: tuple[str, Path], tmp_path: Path, known_duration: float | None) -> None:
    base, root = http_dir
    shutil.copyfile(_source(), root / "clip.mp4")
    url = f"{base}/clip.mp4?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef"
    copy = cut(url, str(tmp_path / "copy.mp4"), 5, 9, source_duration_s=known_duration)
    assert 4.0 - 0.05 <= copy.duration_s <= 4.0 + GOP_S + 0.05
    exact = cut(url, str(tmp_path / "exact.mp4"), 5, 9, accurate=True, source_duration_s=known_duration)
    assert exact.duration_s == pytest.approx(4.0, abs=0.1)
    assert probe(exact.path).audio_codec == "aac"
    # Without a known duration the URL is probed, which finds a start past the end too.
    if known_duration is None:
        with pytest.raises(ValueError, match="past the end"):
            cut(url, str(tmp_path / "late.mp4"), 25, 30)


def test_http_error_does_not_leak_presigned_query(http_dir: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = http_dir
    with pytest.raises(ClipError) as err:
        cut(f"{base}/missing.mp4?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef",
            str(tmp_path / "clip.mp4"), 1, 2)
    message = str(err.value)
    assert "404" in message
    assert "AKIAEXAMPLE" not in message and "deadbeef" not in message
    assert _no_temp_files(tmp_path)


def test_silent_http_peer_times_out(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ClipError, match="timed out"):
            cut(f"http://127.0.0.1:{port}/clip.mp4", str(tmp_path / "clip.mp4"), 1, 2,
                timeout_s=2, source_duration_s=SOURCE_S)
        elapsed = time.monotonic() - started
    assert elapsed < 10
    assert not (tmp_path / "clip.mp4").exists() and _no_temp_files(tmp_path)
    assert os.listdir(tmp_path) == []
