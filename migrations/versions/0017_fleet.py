"""fleet operations: firmware catalogue and campaigns (with their status history), diagnostics files,
SSH hosts and reboot jobs; for the network list, partial indexes of its Faulted and Charging sets
and an index to sort by name

Revision ID: 0017_fleet
Revises: 0016_field_ops
Create Date: 2026-12-01 21:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017_fleet'
down_revision = '0016_field_ops'
branch_labels = None
depends_on = None

FAULTED = "status = 'Faulted' OR (error_code IS NOT NULL AND error_code <> 'NoError')"
CHARGING = "status IN ('Charging', 'SuspendedEV', 'SuspendedEVSE')"


def upgrade():
    op.create_table('firmware',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=40), nullable=False),
    sa.Column('version', sa.String(length=60), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('stored_name', sa.String(length=200), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('vendor', 'model', 'version', name='uq_firmware_version')
    )
    op.create_index('ix_firmware_created_at', 'firmware', ['created_at'], unique=False)

    op.create_table('firmware_campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('firmware_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('targeting', sa.String(length=400), nullable=False),
    sa.Column('batch_size', sa.Integer(), nullable=False),
    sa.Column('parallel_batches', sa.Integer(), nullable=False),
    sa.Column('window_start_hour', sa.Integer(), nullable=True),
    sa.Column('window_end_hour', sa.Integer(), nullable=True),
    sa.Column('max_retries', sa.Integer(), nullable=False),
    sa.Column('failure_threshold', sa.Float(), nullable=False),
    sa.Column('paused_reason', sa.String(length=200), nullable=True),
    sa.Column('ack_failed', sa.Integer(), nullable=False),
    sa.Column('ack_finished', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['firmware_id'], ['firmware.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_firmware_campaign_created_at', 'firmware_campaign', ['created_at'], unique=False)
    op.create_index('ix_firmware_campaign_firmware_id', 'firmware_campaign', ['firmware_id'], unique=False)
    op.create_index('ix_firmware_campaign_status', 'firmware_campaign', ['status'], unique=False)

    op.create_table('firmware_campaign_charger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('batch_no', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('status_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['firmware_campaign.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'charger_id', name='uq_campaign_charger')
    )
    op.create_index('ix_campaign_charger_charger_status', 'firmware_campaign_charger', ['charger_id', 'status'], unique=False)
    op.create_index('ix_firmware_campaign_charger_campaign_id', 'firmware_campaign_charger', ['campaign_id'], unique=False)

    op.create_table('firmware_status_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['target_id'], ['firmware_campaign_charger.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_firmware_status_event_charger_id_id', 'firmware_status_event', ['charger_id', 'id'], unique=False)
    op.create_index('ix_firmware_status_event_received_at', 'firmware_status_event', ['received_at'], unique=False)
    op.create_index('ix_firmware_status_event_target_id', 'firmware_status_event', ['target_id'], unique=False)

    op.create_table('diagnostics_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('stored_name', sa.String(length=200), nullable=True),
    sa.Column('original_name', sa.String(length=200), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_diagnostics_file_charger_id', 'diagnostics_file', ['charger_id'], unique=False)
    op.create_index('ix_diagnostics_file_created_at', 'diagnostics_file', ['created_at'], unique=False)

    op.create_table('ssh_host',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=True),
    sa.Column('site', sa.String(length=120), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('host_key', sa.Text(), nullable=False),
    sa.Column('key_secret', sa.String(length=300), nullable=False),
    sa.Column('reboot_command', sa.String(length=500), nullable=False),
    sa.Column('timeout_s', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_index('ix_ssh_host_charger_id', 'ssh_host', ['charger_id'], unique=False)
    op.create_index('ix_ssh_host_created_at', 'ssh_host', ['created_at'], unique=False)
    op.create_index('ix_ssh_host_site', 'ssh_host', ['site'], unique=False)

    op.create_table('ssh_job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.String(length=36), nullable=False),
    sa.Column('host_id', sa.Integer(), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['host_id'], ['ssh_host.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id')
    )
    op.create_index('ix_ssh_job_charger_id', 'ssh_job', ['charger_id'], unique=False)
    op.create_index('ix_ssh_job_created_at', 'ssh_job', ['created_at'], unique=False)
    op.create_index('ix_ssh_job_host_id', 'ssh_job', ['host_id'], unique=False)

    with op.batch_alter_table('charger', schema=None) as batch_op:
        batch_op.create_index('ix_charger_name_id', ['name', 'id'], unique=False)
    with op.batch_alter_table('charger_connector', schema=None) as batch_op:
        batch_op.create_index('ix_charger_connector_faulted', ['charger_id'], unique=False,
                              postgresql_where=sa.text(FAULTED), sqlite_where=sa.text(FAULTED))
        batch_op.create_index('ix_charger_connector_charging', ['charger_id'], unique=False,
                              postgresql_where=sa.text(CHARGING), sqlite_where=sa.text(CHARGING))


def downgrade():
    with op.batch_alter_table('charger_connector', schema=None) as batch_op:
        batch_op.drop_index('ix_charger_connector_charging')
        batch_op.drop_index('ix_charger_connector_faulted')
    with op.batch_alter_table('charger', schema=None) as batch_op:
        batch_op.drop_index('ix_charger_name_id')
    for table in ('ssh_job', 'ssh_host', 'diagnostics_file', 'firmware_status_event', 'firmware_campaign_charger',
                  'firmware_campaign', 'firmware'):
        op.drop_table(table)
