"""The ffmpeg/ffprobe argument lists built in service.media._ffmpeg: whatever a file is called, it is
read as a file and nothing else, every input carries both whitelists, and a loopback URL's query (its
token) never reaches an error message."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.media import _ffmpeg
from service.media.clip import cut_command
from service.media.frames import Source, decode_command
from service.media.redact import MuteRange, encode_command

names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40)
URL = "http://127.0.0.1:4321/media?t=SECRET-token"


def _inputs(argv: list[str]) -> list[tuple[list[str], str]]:
    """(the options before each -i, its name)."""
    out, start = [], 0
    for i, arg in enumerate(argv):
        if arg == "-i":
            out.append((argv[start:i], argv[i + 1]))
            start = i + 2
    return out


def _option(opts: list[str], name: str) -> str:
    return opts[opts.index(name) + 1]


@given(name=names, start=st.floats(0, 1e5), length=st.floats(0.001, 1e5))
def test_a_local_path_is_only_ever_a_file(name: str, start: float, length: float) -> None:
    path = "/footage/" + name
    for argv in (cut_command(path, "/out/x.mp4", start, start + length),
                 cut_command(path, "/out/x.mp4", start, None, accurate=True),
                 decode_command(path, start, length, Source(641, 481, Fraction(25), True, None, 0), scale=(64, 48)),
                 _ffmpeg.ffprobe_command(path)):
        if argv[0] == _ffmpeg.FFPROBE:
            inputs = [(argv[:-1], argv[-1])]
        else:
            inputs = _inputs(argv)
            assert argv[:6] == [_ffmpeg.FFMPEG, *_ffmpeg.GLOBAL_ARGS]
            assert argv[-1] in ("file:/out/x.mp4", "pipe:1")
        assert [n for _, n in inputs] == ["file:" + path]
        opts = inputs[0][0]
        assert _option(opts, "-protocol_whitelist") == "file"
        assert _option(opts, "-format_whitelist") == _ffmpeg.FORMAT_WHITELIST
        assert "-rw_timeout" not in opts


def test_a_url_is_read_over_http_only_with_a_read_timeout() -> None:
    for argv in (cut_command(URL, "/out/x.mp4", 1, 2), _ffmpeg.ffprobe_command(URL)):
        opts = argv[:argv.index(URL)]
        assert _option(opts, "-protocol_whitelist") == "http,tcp"
        assert _option(opts, "-format_whitelist") == _ffmpeg.FORMAT_WHITELIST
        assert int(_option(opts, "-rw_timeout")) > 0
    assert "concat" not in _ffmpeg.FORMAT_WHITELIST.split(",") and "hls" not in _ffmpeg.FORMAT_WHITELIST.split(",")


def test_errors_name_the_url_without_its_query() -> None:
    text = f"[http @ 0x55d1c0] {URL}: Connection refused\n"
    line = _ffmpeg.first_useful_line(_ffmpeg.redact_url(text, URL))
    assert "SECRET" not in line and "0x55d1c0" not in line
    assert line == "[http] http://127.0.0.1:4321/media: Connection refused"


def test_a_process_past_its_time_is_killed_and_named() -> None:
    with pytest.raises(_ffmpeg.Timeout, match="ffmpeg timed out after 0.2 s"):
        _ffmpeg.run(["sleep", "30"], timeout_s=0.2)


def test_the_redaction_encoder_takes_frames_from_stdin_and_only_the_first_audio_track_muted() -> None:
    """Built as a list by hand (ffmpeg-python is gone): raw frames on stdin, the source's first audio
    track only, the mute ranges as one escaped ``enable`` expression on the output timeline."""
    src = Source(640, 480, Fraction(30000, 1001), True, None, 0)
    argv = encode_command("/footage/a,b.mp4", "/out/r.mp4", 2.0, 5.0, (640, 480), src,
                          [MuteRange(3.0, 4.0), MuteRange(1.0, 2.5)])
    frames, audio = _inputs(argv)
    assert frames[1] == "pipe:0" and _option(frames[0], "-f") == "rawvideo"
    assert _option(frames[0], "-s") == "640x480" and _option(frames[0], "-framerate") == "30000/1001"
    assert audio[1] == "file:/footage/a,b.mp4" and _option(audio[0], "-ss") == "2.000000"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-map"] == ["0:v:0", "1:a:0"]
    assert _option(argv, "-filter:a") == ("volume=enable=between(t\\,1.000000\\,2.000000)"
                                          "+between(t\\,0.000000\\,0.500000):volume=0")
    assert argv[-1] == "file:/out/r.mp4" and _option(argv, "-acodec") == "aac"
    silent = encode_command("/f.mp4", "/out/r.mp4", 0, 1, (2, 2), Source(2, 2, Fraction(25), False, None, 0), [])
    assert len(_inputs(silent)) == 1 and "-acodec" not in silent and "-filter:a" not in silent
