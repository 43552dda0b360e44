"""violations.face_width, and indexes for the list's sort orders and its "new since" poll

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BATCH = 1000
SORT_INDEXES = {
    'ix_violations_p_id': ['p_no_mask', 'id'],
    'ix_violations_width_id': ['face_width', 'id'],
    'ix_violations_score_id': ['face_score', 'id'],
    'ix_violations_created': ['created_at'],
}


def _backfill() -> None:
    """face_width = x2 - x1 of the stored box, for the rows written before this column (the rule
    of maskwatch.detections.box_width, written out here: a migration must not change when the code does)."""
    conn = op.get_bind()
    table = sa.table('violations', sa.column('id', sa.String), sa.column('box', sa.JSON),
                     sa.column('face_width', sa.Integer))
    last = ''
    while True:  # keyset batches by id: memory stays flat on a large table
        rows = conn.execute(sa.select(table.c.id, table.c.box).where(table.c.id > last)
                            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        for vid, box in rows:
            try:
                width = max(0, round(float(box[2]) - float(box[0])))
            except (TypeError, ValueError, IndexError):
                width = 0
            conn.execute(table.update().where(table.c.id == vid).values(face_width=width))
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table('violations') as batch:
        batch.add_column(sa.Column('face_width', sa.Integer(), nullable=False, server_default='0'))
    _backfill()
    for name, cols in SORT_INDEXES.items():
        op.create_index(name, 'violations', cols)


def downgrade() -> None:
    for name in SORT_INDEXES:
        op.drop_index(name, table_name='violations')
    with op.batch_alter_table('violations') as batch:
        batch.drop_column('face_width')
