"""api_tokens: machines' access to /api/* (hashed, scoped, revocable)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 19:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(length=64), nullable=False, unique=True),
        sa.Column('token_hash', sa.String(length=64), nullable=False, unique=True),
        sa.Column('hint', sa.String(length=12), nullable=False),
        sa.Column('scope', sa.Enum('read', 'review', name='token_scope', native_enum=False, length=10),
                  nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table('api_tokens')
