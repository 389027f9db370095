"""Alembic migrations, runnable on PostgreSQL and SQLite: ``bwv migrate`` or :func:`upgrade`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic import command
from alembic.config import Config

from service.db import private_sqlite_file

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking. Runs in its own thread because env.py starts an event loop of its own, which is not
    allowed in a thread that already runs one (the API's start-up, async tests)."""
    if url.startswith("sqlite"):
        private_sqlite_file(url)  # before Alembic's engine creates it world-readable
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(command.upgrade, alembic_config(url), revision).result()
