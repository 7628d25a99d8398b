"""field operations: charger issues, maintenance tasks, force charges and wallet holds, push, broadcasts

support_ticket.charger_ref (free text) becomes support_ticket.charger_id, a foreign key to the registry:
each ticket's text is matched to a charger by cid; text that matches no charger is kept at the end of the
ticket's description ("Charger (not in the registry): ..."), so nothing written is lost.
wallet.held: money set aside by open holds; a debit may spend only balance - held.

Revision ID: 0016_field_ops
Revises: 0015_reports
Create Date: 2026-12-01 21:32:23
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_field_ops'
down_revision = '0015_reports'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('broadcast',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('group_code', sa.String(length=40), nullable=True),
    sa.Column('role', sa.String(length=40), nullable=True),
    sa.Column('channels', sa.String(length=40), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_broadcast_created_at'), ['created_at'], unique=False)

    op.create_table('maintenance_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=True),
    sa.Column('site', sa.String(length=120), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('field_team_id', sa.Integer(), nullable=True),
    sa.Column('checklist', sa.JSON(), nullable=False),
    sa.Column('repeat_days', sa.Integer(), nullable=True),
    sa.Column('previous_id', sa.Integer(), nullable=True),
    sa.Column('report', sa.Text(), nullable=True),
    sa.Column('readings', sa.JSON(), nullable=True),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('completed_by_id', sa.Integer(), nullable=True),
    sa.Column('last_reminded_on', sa.Date(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['completed_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['field_team_id'], ['field_team.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['previous_id'], ['maintenance_task.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('previous_id')
    )
    with op.batch_alter_table('maintenance_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_task_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_task_charger_id'), ['charger_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_task_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_task_due_date'), ['due_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_task_site'), ['site'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_task_status'), ['status'], unique=False)

    op.create_table('push_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=1000), nullable=False),
    sa.Column('p256dh', sa.String(length=200), nullable=False),
    sa.Column('auth', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('endpoint')
    )
    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_subscription_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_subscription_user_id'), ['user_id'], unique=False)

    op.create_table('push_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['notification_id'], ['notification.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subscription_id'], ['push_subscription.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscription_id', 'notification_id', name='uq_push_delivery')
    )
    with op.batch_alter_table('push_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_delivery_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_delivery_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_delivery_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('wallet_hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wallet_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('source_type', sa.String(length=40), nullable=False),
    sa.Column('source_ref', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('settled_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallet.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_type', 'source_ref', name='uq_wallet_hold_source')
    )
    with op.batch_alter_table('wallet_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallet_hold_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_wallet_hold_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_wallet_hold_wallet_id'), ['wallet_id'], unique=False)

    op.create_table('charger_issue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_id'], ['support_ticket.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id')
    )
    with op.batch_alter_table('charger_issue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_charger_issue_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_charger_issue_charger_id'), ['charger_id'], unique=False)
        batch_op.create_index('ix_charger_issue_charger_status', ['charger_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_charger_issue_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_charger_issue_status'), ['status'], unique=False)

    op.create_table('force_charge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('id_tag', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=6), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('minutes', sa.Integer(), nullable=True),
    sa.Column('tariff_per_kwh', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('hold_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('stop_command_id', sa.String(length=36), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('energy_wh', sa.Integer(), nullable=False),
    sa.Column('amount_charged', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('wallet_entry_id', sa.Integer(), nullable=True),
    sa.Column('failure', sa.String(length=200), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('stop_at', sa.DateTime(), nullable=True),
    sa.Column('stopped_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['charger_id'], ['charger.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['hold_id'], ['wallet_hold.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['session_id'], ['charging_session.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['wallet_entry_id'], ['wallet_entry.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hold_id'),
    sa.UniqueConstraint('session_id')
    )
    with op.batch_alter_table('force_charge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_force_charge_charger_id'), ['charger_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_force_charge_command_id'), ['command_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_force_charge_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_force_charge_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_force_charge_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_force_charge_stop_at'), ['stop_at'], unique=False)

    op.create_table('charger_issue_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['issue_id'], ['charger_issue.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('charger_issue_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_charger_issue_note_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_charger_issue_note_issue_id'), ['issue_id'], unique=False)

    op.create_table('charger_issue_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['charger_issue.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('issue_id', 'kind', 'slot', name='uq_charger_issue_reminder')
    )
    with op.batch_alter_table('charger_issue_reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_charger_issue_reminder_at'), ['at'], unique=False)

    op.create_table('field_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('note_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('stored_name', sa.String(length=120), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=60), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['note_id'], ['charger_issue_note.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['task_id'], ['maintenance_task.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('stored_name')
    )
    with op.batch_alter_table('field_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_field_photo_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_field_photo_note_id'), ['note_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_field_photo_task_id'), ['task_id'], unique=False)

    with op.batch_alter_table('support_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('charger_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_support_ticket_charger_id'), ['charger_id'], unique=False)
        batch_op.create_foreign_key('fk_support_ticket_charger_id', 'charger', ['charger_id'], ['id'], ondelete='RESTRICT')
    # the free text, moved by cid; what names no registry charger stays readable in the description
    op.execute("UPDATE support_ticket SET charger_id = (SELECT charger.id FROM charger WHERE charger.cid = TRIM(support_ticket.charger_ref)) "
               "WHERE charger_ref IS NOT NULL AND TRIM(charger_ref) <> ''")
    op.execute("UPDATE support_ticket SET description = COALESCE(description, '') || ' Charger (not in the registry): ' || charger_ref "
               "WHERE charger_id IS NULL AND charger_ref IS NOT NULL AND TRIM(charger_ref) <> ''")
    with op.batch_alter_table('support_ticket', schema=None) as batch_op:
        batch_op.drop_column('charger_ref')

    with op.batch_alter_table('wallet', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held', sa.Numeric(precision=14, scale=2), server_default='0', nullable=False))



def downgrade():
    with op.batch_alter_table('wallet', schema=None) as batch_op:
        batch_op.drop_column('held')

    with op.batch_alter_table('support_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('charger_ref', sa.VARCHAR(length=60), nullable=True))
    op.execute("UPDATE support_ticket SET charger_ref = (SELECT charger.cid FROM charger WHERE charger.id = support_ticket.charger_id) "
               "WHERE charger_id IS NOT NULL")
    with op.batch_alter_table('support_ticket', schema=None) as batch_op:
        batch_op.drop_constraint('fk_support_ticket_charger_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_support_ticket_charger_id'))
        batch_op.drop_column('charger_id')

    with op.batch_alter_table('field_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_photo_task_id'))
        batch_op.drop_index(batch_op.f('ix_field_photo_note_id'))
        batch_op.drop_index(batch_op.f('ix_field_photo_created_at'))

    op.drop_table('field_photo')
    with op.batch_alter_table('charger_issue_reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_charger_issue_reminder_at'))

    op.drop_table('charger_issue_reminder')
    with op.batch_alter_table('charger_issue_note', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_charger_issue_note_issue_id'))
        batch_op.drop_index(batch_op.f('ix_charger_issue_note_created_at'))

    op.drop_table('charger_issue_note')
    with op.batch_alter_table('force_charge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_force_charge_stop_at'))
        batch_op.drop_index(batch_op.f('ix_force_charge_status'))
        batch_op.drop_index(batch_op.f('ix_force_charge_customer_id'))
        batch_op.drop_index(batch_op.f('ix_force_charge_created_at'))
        batch_op.drop_index(batch_op.f('ix_force_charge_command_id'))
        batch_op.drop_index(batch_op.f('ix_force_charge_charger_id'))

    op.drop_table('force_charge')
    with op.batch_alter_table('charger_issue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_charger_issue_status'))
        batch_op.drop_index(batch_op.f('ix_charger_issue_created_at'))
        batch_op.drop_index('ix_charger_issue_charger_status')
        batch_op.drop_index(batch_op.f('ix_charger_issue_charger_id'))
        batch_op.drop_index(batch_op.f('ix_charger_issue_assignee_id'))

    op.drop_table('charger_issue')
    with op.batch_alter_table('wallet_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallet_hold_wallet_id'))
        batch_op.drop_index(batch_op.f('ix_wallet_hold_status'))
        batch_op.drop_index(batch_op.f('ix_wallet_hold_created_at'))

    op.drop_table('wallet_hold')
    with op.batch_alter_table('push_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_delivery_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_push_delivery_status'))
        batch_op.drop_index(batch_op.f('ix_push_delivery_created_at'))

    op.drop_table('push_delivery')
    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_subscription_user_id'))
        batch_op.drop_index(batch_op.f('ix_push_subscription_created_at'))

    op.drop_table('push_subscription')
    with op.batch_alter_table('maintenance_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_maintenance_task_status'))
        batch_op.drop_index(batch_op.f('ix_maintenance_task_site'))
        batch_op.drop_index(batch_op.f('ix_maintenance_task_due_date'))
        batch_op.drop_index(batch_op.f('ix_maintenance_task_created_at'))
        batch_op.drop_index(batch_op.f('ix_maintenance_task_charger_id'))
        batch_op.drop_index(batch_op.f('ix_maintenance_task_assignee_id'))

    op.drop_table('maintenance_task')
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_broadcast_created_at'))

    op.drop_table('broadcast')
