"""login_counters: failed-login counts shared by the dashboard's processes without Redis

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_counters',
        sa.Column('key', sa.String(length=32), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_login_counters_expires_at', 'login_counters', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_login_counters_expires_at', table_name='login_counters')
    op.drop_table('login_counters')
