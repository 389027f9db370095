"""indexes for the hot lists at a large force's size (issue 16): the sweep's worklist, the SAR queue by due date

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-03 08:00:00

On PostgreSQL the indexes are built CONCURRENTLY (outside the migration's transaction), so upgrading a
live database with millions of recordings does not lock out docks while they build. A build that was
interrupted leaves an INVALID index behind: it is dropped and built again.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = "0016"
branch_labels = None
depends_on = None

# name, table, columns, partial-index predicate (the same text the models declare)
INDEXES = [
    ("ix_sars_active_due", "sars", ("due_at", "id"), "status <> 'closed'"),
    ("ix_sars_due", "sars", ("due_at", "id"), None),
]


def _invalid(name: str) -> bool:
    row = op.get_bind().execute(sa.text(
        "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :n"),
        {"n": name}).first()
    return bool(row and row[0])


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, table, cols, where in INDEXES:
            op.create_index(name, table, list(cols), sqlite_where=sa.text(where) if where else None)
        return
    with op.get_context().autocommit_block():
        for name, table, cols, where in INDEXES:
            if _invalid(name):
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({', '.join(cols)})"
                       + (f" WHERE {where}" if where else ""))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, table, _cols, _where in INDEXES:
            op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        for name, _table, _cols, _where in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
