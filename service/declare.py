"""What a field validator enforces, stated in the OpenAPI without changing the error a bad value gets
(the validators keep their messages; these only describe them to clients and to schemathesis)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import WithJsonSchema

# `_not_blank` validators: at least one character that is not whitespace (str.strip's idea of it).
NOT_BLANK: dict[str, Any] = {"pattern": r"\S"}


# An id without control characters (NUL, newlines) that is not blank: one pattern, since a schema has one.
PLAIN_NOT_BLANK: dict[str, Any] = {"pattern": r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"}


def text_item(min_length: int, max_length: int, *, not_blank: bool = False, plain: bool = False) -> Any:
    """A list item's string checked by its list's validator (e.g. each person of a restriction);
    ``plain``: no control characters either."""
    schema: dict[str, Any] = {"type": "string", "minLength": min_length, "maxLength": max_length}
    if not_blank:
        schema.update(PLAIN_NOT_BLANK if plain else NOT_BLANK)
    return Annotated[str, WithJsonSchema(schema)]
