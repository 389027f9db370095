"""Exhibit file names (issue 12, property 3): portable, and two references share one only when the case
refuses the second (collision_key), whatever the references are."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from service.disclosure.naming import collision_key, exhibit_file_name, first_collision
from service.disclosure.schemas import ItemIn

# Exactly what POST /v1/cases/{id}/items accepts, plus references biased to collide.
ACCEPTED = ItemIn.model_fields["exhibit_ref"].metadata[0].pattern
REF = st.one_of(st.from_regex(ACCEPTED, fullmatch=True),
                st.tuples(st.sampled_from("JjSs1"), st.text("Jj/-_.1sS", max_size=5)).map("".join))
PORTABLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*\.mp4$")
DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))}


def _accept(refs: list[str]) -> list[str]:
    """What a case keeps when the references arrive in this order (the rule add_item applies)."""
    kept: list[str] = []
    for ref in refs:
        if first_collision([*kept, ref]) is None:
            kept.append(ref)
    return kept


@given(st.lists(REF, min_size=2, max_size=12))
def test_references_a_case_accepts_never_share_a_file_name(refs):
    kept = _accept(refs)
    names = [exhibit_file_name(r) for r in kept]
    assert len({n.casefold() for n in names}) == len(names)  # unique on Windows and macOS too
    for ref in refs:  # and nothing was refused without a real clash
        assert ref in kept or any(exhibit_file_name(k).casefold() == exhibit_file_name(ref).casefold() for k in kept)


@given(REF, REF)
def test_the_collision_key_is_exactly_the_file_name_ignoring_case(a, b):
    same = exhibit_file_name(a).casefold() == exhibit_file_name(b).casefold()
    assert (collision_key(a) == collision_key(b)) == same
    assert (first_collision([a, b]) is not None) == same


@given(REF)
def test_a_file_name_is_portable(ref):
    name = exhibit_file_name(ref)
    assert PORTABLE.match(name), name
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name.split(".", 1)[0].upper() not in DEVICES
    assert exhibit_file_name(ref) == name  # the same every build


def test_known_pairs():
    assert exhibit_file_name("JS/1") == "JS-1.mp4"
    for a, b in (("JS/1", "JS-1"), ("JS/1", "js/1"), ("JS/1", "js-1"), ("A/B/1", "A-B/1")):
        assert collision_key(a) == collision_key(b), (a, b)
    for a, b in (("JS/1", "JS/2"), ("JS/1", "JS_1"), ("JS/1", "JS.1"), ("CON", "CON-")):
        assert collision_key(a) != collision_key(b), (a, b)
    assert exhibit_file_name("CON") == "_CON.mp4" and exhibit_file_name("nul.1") == "_nul.1.mp4"
    assert exhibit_file_name("COM10") == "COM10.mp4"
    assert first_collision(["JS/1", "JS/2", "js-2"]) == ("JS/2", "js-2")
    assert first_collision(["A", "A"]) == ("A", "A")
    assert re.fullmatch(ACCEPTED, "_CON") is None  # so "_CON.mp4" can only be the reference CON
