"""camera_hours.not_judged (people never seen well enough to tell) and camera_hours.still (still
faces, pictures, not reported); rows before it count zero of both

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 18:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('camera_hours') as batch:
        batch.add_column(sa.Column('not_judged', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('still', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('camera_hours') as batch:
        batch.drop_column('still')
        batch.drop_column('not_judged')
