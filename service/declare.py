"""What a field validator enforces, stated in the OpenAPI without changing the error a bad value gets
(the validators keep their messages; these only describe them to clients and to schemathesis)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import WithJsonSchema

# `_not_blank` validators: at least one character that is not whitespace (str.strip's idea of it).
NOT_BLANK: dict[str, Any] = {"pattern": r"\S"}


def text_item(min_length: int, max_length: int, *, not_blank: bool = False) -> Any:
    """A list item's string checked by its list's validator (e.g. each person of a restriction)."""
    schema: dict[str, Any] = {"type": "string", "minLength": min_length, "maxLength": max_length}
    if not_blank:
        schema.update(NOT_BLANK)
    return Annotated[str, WithJsonSchema(schema)]
