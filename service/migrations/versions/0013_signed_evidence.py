"""signed audit checkpoints, verification runs and share receipts (issue 14: evidence that proves itself)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('tsa_token', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_checkpoints'))
    )
    op.create_table('audit_verifications',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('from_seq', sa.BigInteger(), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('checkpoint_seq', sa.BigInteger(), nullable=True),
    sa.Column('first_bad_seq', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_verifications'))
    )
    op.create_index('ix_audit_verifications_at', 'audit_verifications', ['at'])
    op.create_table('share_receipts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('share_id', sa.String(length=40), nullable=False),
    sa.Column('bundle_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('bundle_sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['bundle_id'], ['bundles.id'], name=op.f('fk_share_receipts_bundle_id_bundles')),
    sa.ForeignKeyConstraint(['share_id'], ['shares.id'], name=op.f('fk_share_receipts_share_id_shares')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_receipts'))
    )
    op.create_index(op.f('ix_share_receipts_share_id'), 'share_receipts', ['share_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_share_receipts_share_id'), table_name='share_receipts')
    op.drop_table('share_receipts')
    op.drop_index('ix_audit_verifications_at', table_name='audit_verifications')
    op.drop_table('audit_verifications')
    op.drop_table('audit_checkpoints')
