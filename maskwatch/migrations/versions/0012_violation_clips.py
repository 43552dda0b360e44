"""violations.clip_path: a clip of the seconds around each violation's decisive sighting

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('violations') as batch:
        batch.add_column(sa.Column('clip_path', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('violations') as batch:
        batch.drop_column('clip_path')
