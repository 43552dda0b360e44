"""report_runs: the scheduled reports sent, one row per report and period

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 19:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_runs',
        sa.Column('name', sa.String(length=64), primary_key=True),
        sa.Column('period_start', sa.DateTime(timezone=True), primary_key=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recipients', sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('report_runs')
