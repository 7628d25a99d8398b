"""charts and the network list at fleet size: the bucket snapshots behind the buckets-over-time chart, and
the charger's stored condition rank (its bucket without the clock's Offline) with the index the list walks

Revision ID: 0021_charts
Revises: 0017_fleet
Create Date: 2026-12-02 01:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0021_charts'
down_revision = '0020_field_app'
branch_labels = None
depends_on = None

FAULTED = "status = 'Faulted' OR (error_code IS NOT NULL AND error_code <> 'NoError')"
CHARGING = "status IN ('Charging', 'SuspendedEV', 'SuspendedEVSE')"


def upgrade():
    op.create_table('charger_bucket_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(), nullable=False),
    sa.Column('charger_type', sa.String(length=2), nullable=False),
    sa.Column('faulted', sa.Integer(), nullable=False),
    sa.Column('offline', sa.Integer(), nullable=False),
    sa.Column('weak_signal', sa.Integer(), nullable=False),
    sa.Column('charging', sa.Integer(), nullable=False),
    sa.Column('available', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('taken_at', 'charger_type', name='uq_charger_bucket_snapshot')
    )
    op.create_index('ix_charger_bucket_snapshot_taken_at', 'charger_bucket_snapshot', ['taken_at'], unique=False)
    with op.batch_alter_table('charger') as batch:
        batch.add_column(sa.Column('condition_rank', sa.SmallInteger(), server_default='4', nullable=False))
        batch.create_index('ix_charger_condition_rank_cid', ['condition_rank', 'cid'], unique=False)
        batch.create_index('ix_charger_type_condition_rank_cid', ['type', 'condition_rank', 'cid'], unique=False)
    # the rank of the chargers already there (as restamp_conditions computes it, with the default thresholds;
    # the next sweep applies the configured ones)
    op.execute(f"""
        UPDATE charger SET condition_rank = CASE
            WHEN id IN (SELECT charger_id FROM charger_connector WHERE {FAULTED}) THEN 0
            WHEN last_rssi < -85 OR last_heartbeat_gap > COALESCE(heartbeat_interval, 100) * 1.5 THEN 2
            WHEN id IN (SELECT charger_id FROM charger_connector WHERE {CHARGING}) THEN 3
            ELSE 4 END
    """)


def downgrade():
    with op.batch_alter_table('charger') as batch:
        batch.drop_index('ix_charger_type_condition_rank_cid')
        batch.drop_index('ix_charger_condition_rank_cid')
        batch.drop_column('condition_rank')
    op.drop_index('ix_charger_bucket_snapshot_taken_at', table_name='charger_bucket_snapshot')
    op.drop_table('charger_bucket_snapshot')
