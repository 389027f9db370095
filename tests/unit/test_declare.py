"""The OpenAPI's description of a validator matches the validator: a generated client (and schemathesis)
must find exactly the values the server takes."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from service.declare import NOT_BLANK, PLAIN_NOT_BLANK, WHITESPACE

BLANK = re.compile(f"^[{WHITESPACE}]*$")


def test_the_spelled_out_whitespace_is_exactly_what_strip_removes() -> None:
    spaces = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert {chr(c) for c in range(0x110000) if BLANK.match(chr(c))} == spaces


@given(st.text(alphabet=st.sampled_from(" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029"
                                       "\u202f\u205f\u3000\ufeff\u180eab.\x00\x7f")) | st.text())
def test_not_blank_in_the_schema_is_not_blank_to_the_validator(text: str) -> None:
    assert (re.search(NOT_BLANK["pattern"], text) is not None) == bool(text.strip())
    plain = not re.search(r"[\x00-\x1f\x7f]", text)
    ecma = PLAIN_NOT_BLANK["pattern"].removesuffix("$") + r"\Z"  # ECMA's $ is the end; Python's allows a final \n
    assert (re.search(ecma, text) is not None) == (plain and bool(text.strip()))
