"""alert_outbox (durable delivery to webhooks and MQTT) and camera_incidents (camera health)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('sink', sa.String(length=32), nullable=False),
        sa.Column('message_id', sa.String(length=96), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('camera_id', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.Float(), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sink', 'message_id', name='uq_alert_outbox_sink_message'),
    )
    op.create_index('ix_alert_outbox_due', 'alert_outbox', ['delivered_at', 'next_attempt_at'])
    op.create_table(
        'camera_incidents',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('camera_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('detail', sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_camera_incidents_camera_start', 'camera_incidents', ['camera_id', 'started_at'])


def downgrade() -> None:
    op.drop_index('ix_camera_incidents_camera_start', table_name='camera_incidents')
    op.drop_table('camera_incidents')
    op.drop_index('ix_alert_outbox_due', table_name='alert_outbox')
    op.drop_table('alert_outbox')
