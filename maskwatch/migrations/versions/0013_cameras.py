"""cameras: the site's cameras, edited at runtime on the dashboard, seeded from the config file

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 22:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cameras',
        sa.Column('id', sa.String(length=64), primary_key=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('spec', sa.JSON(), nullable=False),
        sa.Column('removed', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('cameras')
