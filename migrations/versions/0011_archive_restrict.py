"""history is kept: foreign keys from history tables refuse the delete of what they point at

Calls, tickets, messages, conversations, commands, charger messages, sessions, job events, purchases,
payouts and the like used to be deleted (CASCADE) or unlinked (SET NULL) with their customer,
charger, job, team, template or OEM. Every such key is now ON DELETE RESTRICT: the delete is refused
and the app archives instead. Keys to ab_user keep SET NULL (FAB deactivates users).

Revision ID: 0011_archive_restrict
Revises: 0009_message_dedup
Create Date: 2026-12-01 21:30:00
"""
from itertools import groupby

from alembic import op


revision = '0011_archive_restrict'
down_revision = '0009_message_dedup'
branch_labels = None
depends_on = None

# (table, column, referred table, ON DELETE before this revision), children before their parents so a
# table recreated on SQLite never cascades into a child that is still to be recreated.
CHANGES = [
    ('vendor_payment', 'job_id', 'installation_job', None),
    ('vendor_payment', 'proof_file_id', 'job_file', 'SET NULL'),
    ('vendor_payment', 'purchase_id', 'vendor_purchase', None),
    ('vendor_purchase', 'job_id', 'installation_job', 'CASCADE'),
    ('vendor_purchase', 'qr_file_id', 'job_file', 'SET NULL'),
    ('vendor_purchase', 'team_id', 'field_team', None),
    ('team_booking', 'team_id', 'field_team', None),
    ('team_booking', 'visit_id', 'job_visit', 'SET NULL'),
    ('message_media', 'message_id', 'message', 'CASCADE'),
    ('alert_recipient', 'alert_id', 'alert', 'CASCADE'),
    ('alert_recipient', 'message_id', 'message', 'SET NULL'),
    ('topup', 'entry_id', 'wallet_entry', None),
    ('survey_report', 'job_id', 'installation_job', 'CASCADE'),
    ('survey_report', 'team_id', 'field_team', None),
    ('support_ticket_note', 'ticket_id', 'support_ticket', 'CASCADE'),
    ('support_sla_alert', 'ticket_id', 'support_ticket', 'CASCADE'),
    ('stock_move', 'job_id', 'installation_job', 'SET NULL'),
    ('stock_move', 'location_id', 'stock_location', None),
    ('stock_move', 'material_id', 'material', None),
    ('stock_move', 'team_id', 'field_team', None),
    ('payout_item', 'job_id', 'installation_job', None),
    ('payout_item', 'payout_id', 'team_payout', 'CASCADE'),
    ('message', 'conversation_id', 'conversation', 'CASCADE'),
    ('message', 'customer_id', 'customer', 'SET NULL'),
    ('message', 'request_id', 'customer_request', 'SET NULL'),
    ('message', 'template_id', 'message_template', 'SET NULL'),
    ('message', 'ticket_id', 'support_ticket', 'SET NULL'),
    ('job_visit', 'job_id', 'installation_job', 'CASCADE'),
    ('job_visit', 'team_id', 'field_team', None),
    ('job_message', 'job_id', 'installation_job', 'CASCADE'),
    ('job_file', 'job_id', 'installation_job', 'CASCADE'),
    ('job_event', 'job_id', 'installation_job', 'CASCADE'),
    ('job_call', 'job_id', 'installation_job', 'CASCADE'),
    ('installation_report', 'job_id', 'installation_job', 'CASCADE'),
    ('installation_report', 'team_id', 'field_team', None),
    ('bom_line', 'job_id', 'installation_job', 'CASCADE'),
    ('bom_line', 'material_id', 'material', None),
    ('wallet_entry', 'reverses_id', 'wallet_entry', None),
    ('support_ticket', 'call_id', 'support_call', 'SET NULL'),
    ('support_ticket', 'customer_id', 'customer', 'SET NULL'),
    ('support_ticket', 'department_id', 'department', None),
    ('support_ticket', 'request_id', 'customer_request', 'SET NULL'),
    ('payment', 'customer_id', 'customer', 'SET NULL'),
    ('payment', 'import_batch_id', 'settlement_import', 'SET NULL'),
    ('installation_job', 'customer_id', 'customer', 'SET NULL'),
    ('installation_job', 'lead_id', 'installation_lead', None),
    ('installation_job', 'oem_id', 'oem', None),
    ('installation_job', 'stock_location_id', 'stock_location', None),
    ('team_payout', 'team_id', 'field_team', None),
    ('support_call', 'customer_id', 'customer', 'SET NULL'),
    ('support_call', 'department_id', 'department', None),
    ('stock_level', 'location_id', 'stock_location', None),
    ('stock_level', 'material_id', 'material', None),
    ('oem_report', 'oem_id', 'oem', None),
    ('installation_lead', 'oem_id', 'oem', None),
    ('customer_request', 'assigned_department_id', 'department', None),
    ('customer_request', 'customer_id', 'customer', 'SET NULL'),
    ('conversation', 'customer_id', 'customer', 'CASCADE'),
    ('charging_session', 'charger_id', 'charger', 'CASCADE'),
    ('charger_message', 'charger_id', 'charger', 'CASCADE'),
    ('charger_fault', 'charger_id', 'charger', 'CASCADE'),
    ('charger_command', 'charger_id', 'charger', 'CASCADE'),
    ('alert', 'group_id', 'notification_group', 'CASCADE'),
]

# SQLite's reflected keys have no names; this convention gives them the one the batch drops.
SQLITE_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _set_ondelete(to_new: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # a recreated parent is dropped and renamed; its children are checked at commit, not at the drop
        op.execute("PRAGMA defer_foreign_keys=ON")
        for table, rows in groupby(CHANGES, key=lambda r: r[0]):
            with op.batch_alter_table(table, naming_convention=SQLITE_NAMING, recreate="always") as batch_op:
                for _table, column, referred, old in rows:
                    name = f"fk_{table}_{column}_{referred}"
                    batch_op.drop_constraint(name, type_="foreignkey")
                    batch_op.create_foreign_key(
                        name, referred, [column], ["id"], ondelete="RESTRICT" if to_new else old
                    )
        return
    for table, column, referred, old in CHANGES:
        name = f"{table}_{column}_fkey"
        op.drop_constraint(name, table, type_="foreignkey")
        op.create_foreign_key(name, table, referred, [column], ["id"], ondelete="RESTRICT" if to_new else old)


def upgrade():
    _set_ondelete(True)


def downgrade():
    _set_ondelete(False)
