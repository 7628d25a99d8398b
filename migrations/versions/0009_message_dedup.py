"""chargers: the raw message stream is the ingest's duplicate filter

An incoming OCPP message's msg_id goes to charger_message.dedup_key, unique per charger, so the
ingest writes each message once instead of once in the stream and once in a table of claimed ids.
charger_processed_message is dropped; a redelivery comes within seconds of a reconnect, far
inside the stream's retention.

Revision ID: 0009_message_dedup
Revises: 0008_charger_hot_updates
Create Date: 2026-11-22 03:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_message_dedup'
down_revision = '0008_charger_hot_updates'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('charger_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedup_key', sa.String(length=80), nullable=True))
        batch_op.create_unique_constraint('uq_charger_message_dedup', ['charger_id', 'dedup_key'])
    with op.batch_alter_table('charger_processed_message', schema=None) as batch_op:
        batch_op.drop_index('ix_charger_processed_message_received_at')
    op.drop_table('charger_processed_message')


def downgrade():
    op.create_table('charger_processed_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('msg_id', sa.String(length=80), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('charger_id', 'msg_id', name='uq_charger_processed_message')
    )
    with op.batch_alter_table('charger_processed_message', schema=None) as batch_op:
        batch_op.create_index('ix_charger_processed_message_received_at', ['received_at'], unique=False)
    with op.batch_alter_table('charger_message', schema=None) as batch_op:
        batch_op.drop_constraint('uq_charger_message_dedup', type_='unique')
        batch_op.drop_column('dedup_key')
