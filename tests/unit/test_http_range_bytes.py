"""Range requests as bytes, without a server: what a client asks for (first-last, an open end, the last N) is
exactly the slice of the body it gets, the answer's headers say so, and no header of any shape makes the
parser fail any other way than 416. (tests/unit/test_http_range.py checks the parsed offsets.)"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import RangeNotSatisfiable
from service.http_range import ByteRange, parse_range, ranged_response

sizes = st.integers(1, 5_000)


def _body(size: int) -> bytes:
    return bytes(i * 7 % 251 for i in range(size))  # no two neighbours alike: an off-by-one shows


@given(data=st.data(), size=sizes)
def test_first_last_gets_those_bytes_clipped_to_the_body(data, size):
    first = data.draw(st.integers(0, size - 1), label="first")
    last = data.draw(st.integers(first, size * 2), label="last")
    body = _body(size)
    rng = parse_range(f"bytes={first}-{last}", size)
    assert rng.partial
    assert body[rng.start:rng.end] == body[first:last + 1]  # RFC 9110: a last past the end means "to the end"


@given(data=st.data(), size=sizes)
def test_an_open_end_gets_the_rest(data, size):
    first = data.draw(st.integers(0, size - 1), label="first")
    body = _body(size)
    rng = parse_range(f"bytes={first}-", size)
    assert rng.partial and body[rng.start:rng.end] == body[first:]


@given(size=sizes, n=st.integers(1, 10_000))
def test_a_suffix_gets_the_last_n_bytes(size, n):
    body = _body(size)
    rng = parse_range(f"bytes=-{n}", size)
    assert rng.partial and body[rng.start:rng.end] == body[-n:]


@given(size=sizes, first=st.integers(0, 10_000))
def test_a_range_starting_past_the_end_is_416_naming_the_size(size, first):
    if first < size:
        assert parse_range(f"bytes={first}-", size).start == first  # satisfiable: must not raise
        return
    with pytest.raises(RangeNotSatisfiable) as e:
        parse_range(f"bytes={first}-", size)
    assert e.value.status == 416 and e.value.headers == {"Content-Range": f"bytes */{size}"}


headers = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.from_regex(r"\A\s*bytes=[0-9]{0,7}-[0-9]{0,7}\s*\Z"),
    st.from_regex(r"\A[a-z]{0,6}=[0-9 ,\-]{0,20}\Z"),
    st.builds(lambda a, b: f"bytes={a}-{b}", st.integers(-5, 10_000), st.integers(-5, 10_000)),
)


@given(header=headers, size=st.integers(0, 5_000))
def test_any_header_is_a_range_inside_the_body_the_whole_body_or_416(header, size):
    try:
        rng = parse_range(header, size)
    except RangeNotSatisfiable as e:
        assert e.headers["Content-Range"] == f"bytes */{size}"
        return
    if rng.partial:
        assert 0 <= rng.start < rng.end <= size
    else:
        assert (rng.start, rng.end) == (0, size)


@pytest.mark.parametrize("header", ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000])
def test_a_number_too_long_to_convert_is_not_a_server_error(header):
    try:
        parse_range(header, 10)
    except RangeNotSatisfiable:
        pass


async def _drain(resp) -> bytes:
    return b"".join([chunk async for chunk in resp.body_iterator])


@given(data=st.data(), size=sizes)
async def test_the_answer_states_the_slice_it_carries(data, size):
    first = data.draw(st.integers(0, size - 1), label="first")
    last = data.draw(st.integers(first, size - 1), label="last")
    body = _body(size)
    rng = parse_range(f"bytes={first}-{last}", size)

    async def stream():
        yield body[rng.start:rng.end]

    resp = ranged_response(stream(), rng, size, "video/mp4", etag="abc", filename="r.mp4")
    assert resp.status_code == 206
    assert resp.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert int(resp.headers["content-length"]) == last - first + 1 == len(await _drain(resp))
    whole = ranged_response(stream(), ByteRange(0, size, False), size, "video/mp4", etag="abc", filename="r.mp4")
    assert whole.status_code == 200 and "content-range" not in whole.headers
    assert whole.headers["content-length"] == str(size)
