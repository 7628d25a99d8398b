"""chargers: the OCPP 1.6J gateway (charger passwords and live links, gateway nodes, transaction ids)

Revision ID: 0014_ocpp
Revises: 0013_outbox
Create Date: 2026-12-01 21:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014_ocpp'
down_revision = '0013_outbox'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('charger_ocpp_link',
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('password_set_at', sa.DateTime(), nullable=True),
    sa.Column('password_set_by_id', sa.Integer(), nullable=True),
    sa.Column('connected', sa.Boolean(), nullable=False),
    sa.Column('gateway_node', sa.String(length=80), nullable=True),
    sa.Column('remote_address', sa.String(length=64), nullable=True),
    sa.Column('since', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['password_set_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('charger_id')
    )
    with op.batch_alter_table('charger_ocpp_link', schema=None) as batch_op:
        batch_op.create_index('ix_charger_ocpp_link_gateway_node', ['gateway_node'], unique=False)

    op.create_table('ocpp_gateway_node',
    sa.Column('node', sa.String(length=80), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('node')
    )
    op.create_table('ocpp_transaction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cid', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('id_tag', sa.String(length=20), nullable=False),
    sa.Column('authorization', sa.String(length=20), nullable=False),
    sa.Column('gateway_node', sa.String(length=80), nullable=True),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('ocpp_transaction', schema=None) as batch_op:
        batch_op.create_index('ix_ocpp_transaction_cid', ['cid'], unique=False)
        batch_op.create_index('ix_ocpp_transaction_issued_at', ['issued_at'], unique=False)


def downgrade():
    with op.batch_alter_table('ocpp_transaction', schema=None) as batch_op:
        batch_op.drop_index('ix_ocpp_transaction_issued_at')
        batch_op.drop_index('ix_ocpp_transaction_cid')
    op.drop_table('ocpp_transaction')
    op.drop_table('ocpp_gateway_node')
    with op.batch_alter_table('charger_ocpp_link', schema=None) as batch_op:
        batch_op.drop_index('ix_charger_ocpp_link_gateway_node')
    op.drop_table('charger_ocpp_link')
