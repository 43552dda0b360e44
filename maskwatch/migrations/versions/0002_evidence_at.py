"""violations.evidence_at: when the snapshot frame was captured

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows from before stay NULL: their snapshot time was not kept
    with op.batch_alter_table('violations') as batch:
        batch.add_column(sa.Column('evidence_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('violations') as batch:
        batch.drop_column('evidence_at')
