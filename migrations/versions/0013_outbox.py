"""reliability: the transactional outbox, and a deadline on each charger command

- outbox_message: a Celery task to queue, written in the transaction of the change that needs it;
  a relay hands it to the broker, so a change is never lost to a Redis outage and no request waits
  on Redis;
- charger_command.expires_at: when its turn came plus the timeout; a command is never published
  after it (and goes out with the MQTT 5 message expiry interval of what is left).

Revision ID: 0013_outbox
Revises: 0011_archive_restrict
Create Date: 2026-12-01 21:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_outbox'
down_revision = '0011_archive_restrict'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=100), nullable=False),
    sa.Column('args', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_message_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_outbox_message_pending', ['sent_at', 'due_at'], unique=False)
    with op.batch_alter_table('charger_command', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('charger_command', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_pending')
        batch_op.drop_index('ix_outbox_message_created_at')
    op.drop_table('outbox_message')
