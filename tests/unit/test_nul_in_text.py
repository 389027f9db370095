"""Text with U+0000 never reaches a database: PostgreSQL refuses it (a 500 the fuzz campaign found), SQLite
would keep it, so both stacks refuse it at the engine (service.db). Checked here against a real SQLite
engine; tests/integration/test_bad_input.py checks the HTTP answer on both stacks."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from service.db import json_dumps, make_engine
from service.errors import NulInText


@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8))
def test_json_values_are_refused_exactly_when_a_string_holds_nul(value) -> None:
    def has_nul(v) -> bool:
        if isinstance(v, str):
            return "\x00" in v
        if isinstance(v, list):
            return any(has_nul(x) for x in v)
        if isinstance(v, dict):
            return any(has_nul(k) or has_nul(x) for k, x in v.items())
        return False

    if has_nul(value):
        with pytest.raises(NulInText):
            json_dumps(value)
    else:
        json_dumps(value)  # a backslash followed by "u0000" is ordinary text


def test_statements_with_nul_in_a_parameter_are_refused_one_row_or_many(tmp_path) -> None:
    async def go() -> list[str]:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'nul.db'}")
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (v TEXT)"))
                await conn.execute(text("INSERT INTO t VALUES (:v)"), [{"v": "ok"}, {"v": "C:\\u0000"}])
                for params in ({"v": "a\x00b"}, [{"v": "fine"}, {"v": "\x00"}]):
                    with pytest.raises(NulInText):
                        await conn.execute(text("INSERT INTO t VALUES (:v)"), params)
            async with engine.connect() as conn:
                return list((await conn.execute(text("SELECT v FROM t ORDER BY v"))).scalars())
        finally:
            await engine.dispose()

    assert asyncio.run(go()) == ["C:\\u0000", "ok"]
