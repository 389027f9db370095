"""retention lifecycle (issue 15): case outcomes, retention reviews, recordings' retain_until and
review_at, users' e-mail addresses

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-03 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = '0014'
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_outcomes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('case_id', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('decided_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('custody_release_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('appeal_until', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('superseded_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_outcomes_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_outcomes'))
    )
    op.create_index('ix_case_outcomes_case', 'case_outcomes', ['case_id', 'superseded_at'], unique=False)
    op.create_table('retention_reviews',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('recording_id', sa.String(length=40), nullable=False),
    sa.Column('kept_kind', sa.String(length=10), nullable=False),
    sa.Column('kept_id', sa.String(length=40), nullable=False),
    sa.Column('review_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retain_until', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('set_by_decision', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'],
                            name=op.f('fk_retention_reviews_recording_id_recordings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_reviews'))
    )
    op.create_index('ix_retention_reviews_status_review_at', 'retention_reviews', ['status', 'review_at'],
                    unique=False)
    op.create_index('ix_retention_reviews_recording', 'retention_reviews', ['recording_id', 'status'],
                    unique=False)
    op.add_column('recordings', sa.Column('retain_until', service.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('recordings', sa.Column('review_at', service.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('email', sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('email')
    with op.batch_alter_table('recordings') as batch:
        batch.drop_column('review_at')
        batch.drop_column('retain_until')
    op.drop_index('ix_retention_reviews_recording', table_name='retention_reviews')
    op.drop_index('ix_retention_reviews_status_review_at', table_name='retention_reviews')
    op.drop_table('retention_reviews')
    op.drop_index('ix_case_outcomes_case', table_name='case_outcomes')
    op.drop_table('case_outcomes')
