"""Range parsing (RFC 9110 §14.1.2) without a server: one range is served partially, anything else whole,
and a range outside the body is 416 with the size the client should have asked within."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import RangeNotSatisfiable
from service.http_range import parse_range


def test_no_header_multiple_ranges_and_junk_serve_the_whole_body():
    for header in (None, "", "bytes=0-1,4-5", "bytes=-", "items=0-3", "bytes=a-b"):
        rng = parse_range(header, 10)
        assert (rng.start, rng.end, rng.partial) == (0, 10, False), header


def test_suffix_open_and_closed_ranges():
    assert (parse_range("bytes=-4", 10).start, parse_range("bytes=-4", 10).end) == (6, 10)
    assert (parse_range("bytes=-40", 10).start, parse_range("bytes=-40", 10).end) == (0, 10)
    assert (parse_range("bytes=3-", 10).start, parse_range("bytes=3-", 10).end) == (3, 10)
    assert (parse_range("bytes=3-99", 10).start, parse_range("bytes=3-99", 10).end) == (3, 10)


def test_an_empty_body_has_no_suffix_to_serve():
    with pytest.raises(RangeNotSatisfiable) as e:
        parse_range("bytes=-5", 0)
    assert e.value.headers["Content-Range"] == "bytes */0"


def test_numbers_past_any_size_compare_as_larger_however_long():
    huge = "9" * 5000
    with pytest.raises(RangeNotSatisfiable):
        parse_range(f"bytes={huge}-", 10)
    assert (parse_range(f"bytes=2-{huge}", 10).start, parse_range(f"bytes=2-{huge}", 10).end) == (2, 10)
    assert (parse_range(f"bytes=-{huge}", 10).start, parse_range(f"bytes=-{huge}", 10).end) == (0, 10)
    # Leading zeros do not make a small number large.
    assert parse_range("bytes=" + "0" * 5000 + "3-" + "0" * 5000 + "4", 10).start == 3


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=10-", "bytes=10-12", "bytes=5-4"])
def test_unsatisfiable_ranges_name_the_size(header):
    with pytest.raises(RangeNotSatisfiable) as e:
        parse_range(header, 10)
    assert e.value.headers["Content-Range"] == "bytes */10"


@given(size=st.integers(1, 10_000), a=st.integers(0, 20_000), b=st.integers(0, 20_000))
def test_a_satisfiable_range_stays_inside_the_body(size, a, b):
    try:
        rng = parse_range(f"bytes={a}-{b}", size)
    except RangeNotSatisfiable:
        assert a >= size or b < a
        return
    assert rng.partial and 0 <= rng.start < rng.end <= size
    assert rng.start == a and rng.end == min(b + 1, size)
