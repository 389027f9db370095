"""face scans and face tracks of SAR items (issue 18: keep the requester, blur every other track)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import service.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sar_face_scans',
    sa.Column('item_id', sa.String(length=40), nullable=False),
    sa.Column('sar_id', sa.String(length=40), nullable=False),
    sa.Column('run', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=2000), nullable=True),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('requested_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clip_start_s', sa.Float(), nullable=True),
    sa.Column('fps', sa.String(length=20), nullable=True),
    sa.Column('frames', sa.Integer(), nullable=True),
    sa.Column('margin_frames', sa.Integer(), nullable=True),
    sa.Column('detector', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['sar_items.id'], name=op.f('fk_sar_face_scans_item_id_sar_items')),
    sa.ForeignKeyConstraint(['sar_id'], ['sars.id'], name=op.f('fk_sar_face_scans_sar_id_sars')),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_sar_face_scans'))
    )
    op.create_index('ix_sar_face_scans_status', 'sar_face_scans', ['status'], unique=False)
    op.create_table('sar_face_tracks',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('item_id', sa.String(length=40), nullable=False),
    sa.Column('run', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('frames', sa.JSON(), nullable=False),
    sa.Column('boxes', sa.JSON(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['sar_items.id'], name=op.f('fk_sar_face_tracks_item_id_sar_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sar_face_tracks'))
    )
    op.create_index('ix_sar_face_tracks_item_run', 'sar_face_tracks', ['item_id', 'run'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sar_face_tracks_item_run', table_name='sar_face_tracks')
    op.drop_table('sar_face_tracks')
    op.drop_index('ix_sar_face_scans_status', table_name='sar_face_scans')
    op.drop_table('sar_face_scans')
