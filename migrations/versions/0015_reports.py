"""reports: an OEM report's e-mail status and reason; the datasets built per period (report_file)

Revision ID: 0015_reports
Revises: 0014_ocpp
Create Date: 2026-12-01 21:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_reports'
down_revision = '0014_ocpp'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oem_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_status', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('email_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('emailed_at', sa.DateTime(), nullable=True))
    op.create_table('report_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('stored_name', sa.String(length=120), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('total', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'period', 'period_start', name='uq_report_file_period')
    )
    with op.batch_alter_table('report_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_file_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_file_kind'), ['kind'], unique=False)


def downgrade():
    with op.batch_alter_table('report_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_file_kind'))
        batch_op.drop_index(batch_op.f('ix_report_file_created_at'))
    op.drop_table('report_file')
    with op.batch_alter_table('oem_report', schema=None) as batch_op:
        batch_op.drop_column('emailed_at')
        batch_op.drop_column('email_error')
        batch_op.drop_column('email_status')
