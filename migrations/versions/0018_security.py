"""security: sign-in versions (logout and password change revoke older cookies and JWTs), signed
webhook sources and their deliveries, archived customers and chargers

Revision ID: 0018_security
Revises: 0017_fleet
Create Date: 2026-12-02 01:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0018_security'
down_revision = '0021_charts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('user_sign_in_version',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('webhook_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['notification_group.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_index('ix_webhook_source_created_at', 'webhook_source', ['created_at'], unique=False)
    op.create_index('ix_webhook_source_group_id', 'webhook_source', ['group_id'], unique=False)
    op.create_table('webhook_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('charger_cid', sa.String(length=48), nullable=True),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['source_id'], ['webhook_source.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id', 'signature', name='uq_webhook_delivery_signature')
    )
    op.create_index('ix_webhook_delivery_received_at', 'webhook_delivery', ['received_at'], unique=False)
    op.create_index('ix_webhook_delivery_source_id', 'webhook_delivery', ['source_id'], unique=False)
    # a plain ADD COLUMN: on SQLite an expression default (true()) would recreate the table, and dropping
    # the old charger table trips the RESTRICT links of its history rows
    on = "1" if op.get_bind().dialect.name == "sqlite" else sa.true()
    with op.batch_alter_table('customer') as batch:
        batch.add_column(sa.Column('active', sa.Boolean(), server_default=on, nullable=False))
    with op.batch_alter_table('charger') as batch:
        batch.add_column(sa.Column('active', sa.Boolean(), server_default=on, nullable=False))


def _defer_foreign_keys_on_sqlite():
    # SQLite recreates the table for this column (its default is an expression): the old table is dropped
    # and the new one renamed, so the history rows that refer to it are checked at commit, not at the drop
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA defer_foreign_keys=ON")


def downgrade():
    _defer_foreign_keys_on_sqlite()
    with op.batch_alter_table('charger') as batch:
        batch.drop_column('active')
    with op.batch_alter_table('customer') as batch:
        batch.drop_column('active')
    op.drop_table('webhook_delivery')
    op.drop_table('webhook_source')
    op.drop_table('user_sign_in_version')
