"""Database engine, sessions and the shared declarative base (SQLAlchemy 2, async).

PostgreSQL in production; SQLite (aiosqlite) in embedded mode. On SQLite every transaction starts
with ``BEGIN IMMEDIATE`` so concurrent writers queue on the database lock instead of failing with
"database is locked" half-way through a read-then-write transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy import text as sa_text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from service.errors import NulInText
from service.files import PRIVATE_FILE, open_private, private_makedirs
from service.timeutil import as_utc, iso

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on the way in and out, on both PostgreSQL and SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else as_utc(value)


JSONType = JSON().with_variant(JSON(), "sqlite")


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return iso(o)
    return str(o)


# A NUL as JSON writes it, and not the tail of an escaped backslash followed by "u0000".
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_dumps(value: Any) -> str:
    """JSON columns accept datetimes (stored as ISO 8601 UTC strings), and no NUL in any string."""
    text = json.dumps(value, default=_json_default)
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise NulInText()
    return text


def _refuse_nul(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
    """Every statement's parameters, on both dialects: text with NUL is refused before the database sees it."""
    rows = parameters if executemany else (parameters,)
    for row in rows:
        values = row.values() if isinstance(row, dict) else row or ()
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise NulInText()


SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use 0644 less the umask) and make an
    existing one and its side files 0600. SQLite gives -wal, -shm and -journal the database file's
    own mode when it creates them, so they follow."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    private_makedirs(os.path.dirname(os.path.abspath(path)))
    try:
        open_private(path).close()
    except FileExistsError:
        # By path, never open()+close(): closing any descriptor of the file drops every POSIX lock this
        # process holds on it, including those of SQLite's open connections.
        os.chmod(path, PRIVATE_FILE)
    for suffix in SQLITE_SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path + suffix, PRIVATE_FILE)


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    kw.setdefault("json_serializer", json_dumps)
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 60}, **kw)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - exercised by embedded tests
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            private_sqlite_file(url)  # -wal and -shm exist from here; an older database may have 0644 ones

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        kw.setdefault("pool_size", 10)
        kw.setdefault("max_overflow", 20)
        kw.setdefault("pool_pre_ping", True)
        engine = create_async_engine(url, **kw)
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_nul)
    return engine


def engine_options(settings: Any) -> dict[str, Any]:
    """Pool and timeout options from configuration (PostgreSQL; SQLite has one file lock and no pool to size).

    ``statement_timeout`` is set per connection as a server setting, so PostgreSQL itself cancels a runaway
    statement (asyncpg raises QueryCanceledError) instead of a replica holding a connection for ever."""
    if settings.is_sqlite:
        return {}
    opts: dict[str, Any] = {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow,
                            "pool_timeout": settings.db_pool_timeout_s}
    if settings.db_statement_timeout_s:
        ms = int(settings.db_statement_timeout_s * 1000)
        opts["connect_args"] = {"server_settings": {"statement_timeout": str(ms)}}
    return opts


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


AFTER_COMMIT = "bwv.after_commit"
AfterCommit = Callable[[], Awaitable[Any]]


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run ``hook`` once the edge's transaction has committed, never if it rolls back.

    Services never open or commit a transaction; what must only happen once their change is durable
    (telling object storage about a legal hold, enqueueing a job that reads the new rows) is handed to
    the edge that owns the transaction (:func:`transaction`, used by the request dependency, the task
    wrapper and the CLI)."""
    session.info.setdefault(AFTER_COMMIT, []).append(hook)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any exception (rule 4); then the hooks
    registered with :func:`after_commit` run, in order."""
    async with sessions() as session:
        async with session.begin():
            yield session
        hooks = session.info.pop(AFTER_COMMIT, [])
        for hook in hooks:
            await hook()


def is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


async def advisory_xact_lock(session: AsyncSession, key: int, *, shared: bool = False) -> None:
    """Serialise, across every process, the rest of this transaction with others taking *key*. PostgreSQL: a
    transaction-scoped advisory lock (shared ones only exclude the exclusive). SQLite: nothing to do, since
    BEGIN IMMEDIATE already holds the database's one write lock for the whole transaction."""
    if is_postgres(session):
        fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await session.execute(sa_text(f"SELECT {fn}(:k)"), {"k": key})
