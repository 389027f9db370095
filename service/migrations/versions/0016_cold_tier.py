"""cold tier: where a recording's bytes are, a second copy to account for, and its restore

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-03 07:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('storage_tier', sa.String(length=10), nullable=False, server_default='hot'))
        batch_op.add_column(sa.Column('other_key', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('other_version', sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column('restore_status', sa.String(length=10), nullable=False,
                                      server_default='none'))
        batch_op.add_column(sa.Column('restore_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('restored_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_recordings_tier_basis', ['storage_tier', 'basis_start'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_tier_basis')
        batch_op.drop_column('restored_until')
        batch_op.drop_column('restore_requested_at')
        batch_op.drop_column('restore_status')
        batch_op.drop_column('other_version')
        batch_op.drop_column('other_key')
        batch_op.drop_column('storage_tier')
