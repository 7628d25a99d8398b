"""chargers: the ingest updates every charger row it hears from, so keep those updates cheap

- drop ix_charger_offline_after: every message moves offline_after, so the index was rewritten
  thousands of times a second, while every reader (sweep, buckets, heartbeat health) scans the
  whole fleet anyway;
- PostgreSQL: fillfactor 70 on charger, so an update can stay on its page (a HOT update, no
  index touched at all).

Revision ID: 0008_charger_hot_updates
Revises: 0007_merge_modules
Create Date: 2026-11-22 02:40:00
"""
from alembic import op


revision = '0008_charger_hot_updates'
down_revision = '0007_merge_modules'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('charger', schema=None) as batch_op:
        batch_op.drop_index('ix_charger_offline_after')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE charger SET (fillfactor = 70)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE charger RESET (fillfactor)')
    with op.batch_alter_table('charger', schema=None) as batch_op:
        batch_op.create_index('ix_charger_offline_after', ['offline_after'], unique=False)
