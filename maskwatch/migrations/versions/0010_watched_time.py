"""camera_hours.watched_s: the seconds of each hour a camera's frames were processed, so that
compliance comes with its coverage (rows before it: 0, unknown)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 19:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('camera_hours') as batch:
        batch.add_column(sa.Column('watched_s', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('camera_hours') as batch:
        batch.drop_column('watched_s')
