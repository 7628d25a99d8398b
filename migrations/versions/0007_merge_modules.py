"""one history: every module's tables

Revision ID: 0007_merge_modules
Revises: 0002_customers, 0004_chargers, 0005_installations, 0006_messaging
Create Date: 2026-11-22 00:48:14.946051

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_merge_modules'
down_revision = ('0002_customers', '0004_chargers', '0005_installations', '0006_messaging')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
