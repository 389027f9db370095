"""Cursor paging without a server: a cursor carries its key there and back unchanged and fits the pattern
the OpenAPI declares; anything the server did not issue (garbled, foreign, or another list's) is the
``invalid-cursor`` problem, never another error; ``cut`` pages through a list exactly once."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import Invalid
from service.paging import (
    CURSOR_PATTERN,
    MAX_LIMIT,
    PageParams,
    after_id,
    after_seq,
    after_time_id,
    cut,
    decode_cursor,
    encode_cursor,
    page_params,
)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                    st.floats(allow_nan=False, allow_infinity=False))
keys = st.lists(scalars, max_size=4)


def _invalid_cursor(call) -> Invalid:
    with pytest.raises(Invalid) as e:
        call()
    assert e.value.slug == "invalid-cursor" and e.value.status == 422
    return e.value


@given(keys)
def test_a_cursor_round_trips_its_key_and_fits_the_declared_pattern(key):
    cursor = encode_cursor(key)
    assert re.fullmatch(CURSOR_PATTERN.strip("^$"), cursor)
    assert decode_cursor(cursor) == key


def test_a_time_in_a_key_comes_back_as_the_time():
    at = datetime(2026, 11, 22, 8, 0, 1, 250000, tzinfo=UTC)
    page = PageParams(limit=10, after=decode_cursor(encode_cursor([at, "rec_1"])))
    assert after_time_id(page) == (at, "rec_1")


@given(st.text(max_size=60))
def test_any_string_is_a_key_list_or_invalid_cursor(cursor):
    try:
        got = decode_cursor(cursor)
    except Invalid as e:
        assert e.slug == "invalid-cursor"
    else:
        assert isinstance(got, list)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not base64!",  # characters outside base64url are refused, not skipped
    "%%%%", "a", "abcde",  # impossible lengths and padding
    "éé",  # not ASCII
    _b64(b"\xff\xfe"),  # not UTF-8 JSON
    _b64(b"{}"), _b64(b'{"after": 1}'), _b64(b"17"), _b64(b'"rec_1"'), _b64(b"null"),  # JSON, not a list
    _b64(b"[1, 2"),  # truncated
    _b64(b"[" * 100_000 + b"]" * 100_000),  # nested past the parser's depth
])
def test_garbled_cursors_are_invalid_cursor(cursor):
    _invalid_cursor(lambda: decode_cursor(cursor))
    _invalid_cursor(lambda: page_params(limit=10, cursor=cursor))


@given(key=keys)
def test_another_lists_cursor_is_refused_by_each_kind_of_list(key):
    """A well-formed cursor of the wrong shape (another list's key) is ``invalid-cursor``, not a 500."""
    page = PageParams(limit=10, after=decode_cursor(encode_cursor(key)))
    for reader, fits in ((after_id, len(key) == 1 and isinstance(key[0], str)),
                         (after_seq, len(key) == 1 and type(key[0]) is int)):
        if not key:
            assert reader(page) in (None, 0)
        elif fits:
            assert reader(page) == key[0]
        else:
            _invalid_cursor(lambda reader=reader: reader(page))
    if not key:
        assert after_time_id(page) is None
        return
    try:
        when, rid = after_time_id(page)
    except Invalid as e:
        assert e.slug == "invalid-cursor"
    else:
        assert len(key) == 2 and rid == key[1] and datetime.fromisoformat(key[0]).replace(tzinfo=None) == \
            when.replace(tzinfo=None)


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_a_limit_out_of_bounds_is_invalid_limit(limit):
    with pytest.raises(Invalid) as e:
        page_params(limit=limit)
    assert e.value.slug == "invalid-limit"


@given(n=st.integers(0, 60), limit=st.integers(1, 25))
def test_cut_pages_through_every_row_once_in_order(n, limit):
    """As a list endpoint does it: fetch limit + 1 rows after the cursor, cut, follow next_cursor."""
    rows = [f"rec_{i:03d}" for i in range(n)]
    seen, cursor = [], None
    for _ in range(n + 2):
        page = page_params(limit=limit, cursor=cursor)
        start = rows.index(after_id(page)) + 1 if page.after else 0
        got, cursor = cut(rows[start:start + limit + 1], page, key=lambda r: [r])
        assert len(got) <= limit
        seen += got
        if cursor is None:
            break
    assert seen == rows
