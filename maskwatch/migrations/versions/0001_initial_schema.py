"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 18:23:01.029926
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('camera_hours',
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('people', sa.Integer(), nullable=False),
    sa.Column('violations', sa.Integer(), nullable=False),
    sa.Column('sightings', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('camera_id', 'hour')
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('viewer', 'operator', 'admin', name='role', native_enum=False, length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('violations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('camera_id', sa.String(length=64), nullable=False),
    sa.Column('track_id', sa.Integer(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('p_no_mask', sa.Float(), nullable=False),
    sa.Column('face_score', sa.Float(), nullable=False),
    sa.Column('box', sa.JSON(), nullable=False),
    sa.Column('frame_width', sa.Integer(), nullable=False),
    sa.Column('frame_height', sa.Integer(), nullable=False),
    sa.Column('sightings', sa.Integer(), nullable=False),
    sa.Column('crop_path', sa.String(length=255), nullable=False),
    sa.Column('frame_path', sa.String(length=255), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('review_status', sa.Enum('pending', 'confirmed', 'false_positive', name='review_status', native_enum=False, length=20), nullable=False),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('violations', schema=None) as batch_op:
        batch_op.create_index('ix_violations_camera_seen', ['camera_id', 'first_seen', 'id'], unique=False)
        batch_op.create_index('ix_violations_seen_id', ['first_seen', 'id'], unique=False)
        batch_op.create_index('ix_violations_status_seen', ['review_status', 'first_seen', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('violations', schema=None) as batch_op:
        batch_op.drop_index('ix_violations_status_seen')
        batch_op.drop_index('ix_violations_seen_id')
        batch_op.drop_index('ix_violations_camera_seen')

    op.drop_table('violations')
    op.drop_table('users')
    op.drop_table('camera_hours')
