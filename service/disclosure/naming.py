"""An exhibit's file name in a bundle, and when two references would share one.

The name stays the reference a court expects to read (``JS/1`` is ``JS-1.mp4``), so it is not
reversible on its own: the manifest maps each file back to its reference. Instead a case refuses a
reference whose file would collide with another's (``POST /v1/cases/{id}/items`` answers 409). Names
collide when they are equal ignoring case, because a bundle is unzipped on Windows and macOS, whose
file systems do not tell ``JS-1.mp4`` from ``js-1.mp4``.
"""

from __future__ import annotations

EXTENSION = ".mp4"
# Windows will not create a file whose name before the first dot is a device name ("CON.mp4").
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))}


def exhibit_file_name(exhibit_ref: str) -> str:
    """A portable file name: ASCII letters, digits, ``-``, ``_`` and ``.``; anything else becomes ``-``."""
    stem = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "-" for c in exhibit_ref)
    if stem.split(".", 1)[0].upper() in _DEVICES:
        stem = "_" + stem  # a reference never starts with "_", so this cannot meet another's name
    return stem + EXTENSION


def collision_key(exhibit_ref: str) -> str:
    """Two references whose keys are equal would land on one file once unzipped."""
    return exhibit_file_name(exhibit_ref).casefold()


def first_collision(exhibit_refs: list[str]) -> tuple[str, str] | None:
    """The first pair of references (earlier, later) that would share a file name, if any."""
    seen: dict[str, str] = {}
    for ref in exhibit_refs:
        key = collision_key(ref)
        if key in seen:
            return seen[key], ref
        seen[key] = ref
    return None
