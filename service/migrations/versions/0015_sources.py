"""sources: where footage comes from (body-worn, CCTV, audio), its provenance, and working copies

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-03 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('uploads') as batch:
        batch.add_column(sa.Column('source', sa.String(10), nullable=False, server_default='bwv'))
        batch.add_column(sa.Column('provenance', sa.JSON(), nullable=True))
    with op.batch_alter_table('recordings') as batch:
        batch.add_column(sa.Column('source', sa.String(10), nullable=False, server_default='bwv'))
        batch.add_column(sa.Column('provenance', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('working_copy_status', sa.String(10), nullable=True))
        batch.add_column(sa.Column('working_copy_key', sa.String(300), nullable=True))
        batch.add_column(sa.Column('working_copy_sha256', sa.String(64), nullable=True))
        batch.add_column(sa.Column('working_copy_size_bytes', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('working_copy_info', sa.JSON(), nullable=True))
        batch.create_index('ix_recordings_working_copy_status', ['working_copy_status'])


def downgrade() -> None:
    with op.batch_alter_table('recordings') as batch:
        batch.drop_index('ix_recordings_working_copy_status')
        for c in ('working_copy_info', 'working_copy_size_bytes', 'working_copy_sha256', 'working_copy_key',
                  'working_copy_status', 'provenance', 'source'):
            batch.drop_column(c)
    with op.batch_alter_table('uploads') as batch:
        batch.drop_column('provenance')
        batch.drop_column('source')
