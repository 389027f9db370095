"""shares count the bytes they serve

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('shares') as batch:
        batch.add_column(sa.Column('bytes_served', sa.BigInteger(), nullable=False, server_default='0'))
    # A download counted before this column existed may have been served whole: count it so.
    op.execute("UPDATE shares SET bytes_served = downloads * "
               "COALESCE((SELECT size_bytes FROM bundles WHERE bundles.id = shares.bundle_id), 0)")


def downgrade() -> None:
    with op.batch_alter_table('shares') as batch:
        batch.drop_column('bytes_served')
