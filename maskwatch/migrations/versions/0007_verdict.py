"""violations.verdict (no_mask or mask_incorrect; rows before it stay no_mask) and review_label
(what the operator says the face is: no_mask, mask_incorrect, mask or not_a_face)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the server default fills every existing row: a two-class model's violation is "no mask"
    with op.batch_alter_table('violations') as batch:
        batch.add_column(sa.Column('verdict', sa.String(length=20), nullable=False, server_default='no_mask'))
        batch.add_column(sa.Column('review_label', sa.String(length=20), nullable=True))
    op.create_index('ix_violations_verdict_seen', 'violations', ['verdict', 'first_seen', 'id'])


def downgrade() -> None:
    op.drop_index('ix_violations_verdict_seen', table_name='violations')
    with op.batch_alter_table('violations') as batch:
        batch.drop_column('review_label')
        batch.drop_column('verdict')
