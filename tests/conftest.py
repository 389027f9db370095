"""Shared fixtures: a whole bodycam stack per test, embedded (SQLite + disk + in-process jobs) or
production-shaped (PostgreSQL + S3 API server + arq on Redis), driven through its HTTP API."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from service.migrations import upgrade
from tests.fixtures.services import create_database, drop_database, pg_url, run_async, services_up  # noqa: F401
from tests.fixtures.stack import Stack, start_stack

pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.server", "tests.fixtures.tsa", "tests.fixtures.smtp",
                  "tests.fixtures.replicas"]

# No timing thresholds in the suite, hypothesis's per-example deadline included: a loaded CI machine is
# slow, not wrong. Each test's own @settings still chooses how many examples it tries.
hypothesis_settings.register_profile("bodycam", deadline=None)
hypothesis_settings.load_profile("bodycam")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_template(services_up) -> str:  # noqa: F811 - the fixture, imported above
    """A migrated database that each test's database is copied from (CREATE DATABASE … TEMPLATE)."""
    name = run_async(create_database)
    upgrade(pg_url(name))
    yield name
    run_async(drop_database, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "bwv.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["embedded", "pg_s3"])
async def stack(request, tmp_path) -> Stack:
    """A running stack; ``stack.mode`` says which. Tests only use its HTTP client and helpers."""
    mode = request.param
    if mode == "embedded":
        template = request.getfixturevalue("sqlite_template")
        db = tmp_path / "bwv.db"
        shutil.copy(template, db)
        st = await start_stack(mode, tmp_path, database_url=f"sqlite+aiosqlite:///{db}")
        try:
            yield st
        finally:
            await st.stop()
        return
    template = request.getfixturevalue("pg_template")
    endpoint = request.getfixturevalue("s3_endpoint")
    from tests.fixtures.s3 import make_bucket

    name = await create_database(template)
    bucket = make_bucket(endpoint, object_lock=True)  # as production: evidence legal holds are enforced by storage
    st = await start_stack(mode, tmp_path, database_url=pg_url(name), storage_url=f"s3://{bucket}",
                           s3_endpoint_url=endpoint, redis_url="redis://127.0.0.1:6379/0",
                           queue_name=f"bwv-test:{uuid.uuid4().hex[:8]}")
    try:
        yield st
    finally:
        await st.stop()
        await drop_database(name)
