"""token revocations; sign-in back-off per account and address replaces the account lock

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('token_revocations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=3), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('revoked_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_token_revocations'))
    )
    op.create_index('ix_token_revocations_kind_value', 'token_revocations', ['kind', 'value'], unique=False)
    op.create_table('login_throttles',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('blocked_until', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttles'))
    )
    # The per-account lock a stranger could renew forever is gone; the throttles above replace it.
    with op.batch_alter_table('users') as batch:
        batch.drop_column('locked_until')
        batch.drop_column('failed_logins')


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('locked_until', service.db.UTCDateTime(timezone=True), nullable=True))
    op.drop_table('login_throttles')
    op.drop_index('ix_token_revocations_kind_value', table_name='token_revocations')
    op.drop_table('token_revocations')
