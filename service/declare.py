"""What a field validator enforces, stated in the OpenAPI without changing the error a bad value gets
(the validators keep their messages; these only describe them to clients and to schemathesis)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import WithJsonSchema

# Whitespace as str.strip (and so every `_not_blank` validator) sees it, spelled out: a schema's \s is
# ECMA-262's, which lacks \x1c-\x1f and \x85 and adds \ufeff, so "\x1c" was valid to the schema and blank to
# the validator (a fresh-seed fuzz campaign's find). tests/unit/test_declare.py keeps this equal to str.isspace.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# `_not_blank` validators: at least one character that is not whitespace.
NOT_BLANK: dict[str, Any] = {"pattern": f"[^{WHITESPACE}]"}


# An id without control characters (NUL, newlines) that is not blank: one pattern, since a schema has one.
PLAIN_NOT_BLANK: dict[str, Any] = {
    "pattern": f"^[^\\x00-\\x1f\\x7f]*[^{WHITESPACE}\\x00-\\x1f\\x7f][^\\x00-\\x1f\\x7f]*$"}


def text_item(min_length: int, max_length: int, *, not_blank: bool = False, plain: bool = False) -> Any:
    """A list item's string checked by its list's validator (e.g. each person of a restriction);
    ``plain``: no control characters either."""
    schema: dict[str, Any] = {"type": "string", "minLength": min_length, "maxLength": max_length}
    if not_blank:
        schema.update(PLAIN_NOT_BLANK if plain else NOT_BLANK)
    return Annotated[str, WithJsonSchema(schema)]
