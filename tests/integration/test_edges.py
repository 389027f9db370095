"""The transaction opens at the edge, once: the request dependency commits before the response is sent,
rolls back on any problem, and runs after-commit hooks only when the change is durable (both stacks)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from service.db import after_commit, transaction
from service.deps import SessionDep
from service.errors import Conflict, install


async def _app_over(stack) -> tuple[FastAPI, list[str]]:
    ran: list[str] = []
    async with transaction(stack.ctx.sessions) as s:
        await s.execute(text("CREATE TABLE edge_probe (v INTEGER NOT NULL)"))
    app = FastAPI()
    app.state.ctx = stack.ctx
    install(app)

    @app.post("/ok/{v}")
    async def ok(v: int, s: SessionDep) -> dict[str, int]:
        await s.execute(text("INSERT INTO edge_probe (v) VALUES (:v)"), {"v": v})

        async def hook() -> None:
            async with stack.ctx.sessions() as other:  # another connection sees the committed row
                seen = (await other.execute(text("SELECT count(*) FROM edge_probe WHERE v = :v"), {"v": v})).scalar()
            ran.append(f"ok:{v}:{seen}")

        after_commit(s, hook)
        return {"v": v}

    @app.post("/refused/{v}")
    async def refused(v: int, s: SessionDep) -> None:
        await s.execute(text("INSERT INTO edge_probe (v) VALUES (:v)"), {"v": v})

        async def hook() -> None:
            ran.append(f"refused:{v}")

        after_commit(s, hook)
        raise Conflict("no", slug="edge-refused")

    return app, ran


async def test_request_edge_commits_before_answering_and_rolls_back_on_a_problem(stack) -> None:
    app, ran = await _app_over(stack)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge.test") as c:
        assert (await c.post("/ok/1")).status_code == 200
        r = await c.post("/refused/2")
        assert r.status_code == 409 and r.json()["type"].endswith("/edge-refused")
    async with stack.ctx.sessions() as s:
        rows = sorted(v for (v,) in (await s.execute(text("SELECT v FROM edge_probe"))).all())
    assert rows == [1]
    assert ran == ["ok:1:1"]  # the hook saw the committed row; the refused request's hook never ran


async def test_hooks_run_in_order_after_commit_and_not_after_rollback(stack) -> None:
    ran: list[int] = []

    async def hook(n: int) -> None:
        ran.append(n)

    async with transaction(stack.ctx.sessions) as s:
        for n in (1, 2, 3):
            after_commit(s, lambda n=n: hook(n))
        assert ran == []
    assert ran == [1, 2, 3]
    try:
        async with transaction(stack.ctx.sessions) as s:
            after_commit(s, lambda: hook(99))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert ran == [1, 2, 3]
