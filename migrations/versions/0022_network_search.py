"""the network list's search at fleet size: a trigram index over charger cid, name and site (PostgreSQL's
pg_trgm; on SQLite the same name is a plain index, which the search does not need)

Revision ID: 0022_network_search
Revises: 0018_security
Create Date: 2026-12-02 16:20:00
"""
from alembic import op


revision = '0022_network_search'
down_revision = '0018_security'
branch_labels = None
depends_on = None

TRIGRAMS = {"cid": "gin_trgm_ops", "name": "gin_trgm_ops", "site": "gin_trgm_ops"}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index('ix_charger_search_trgm', 'charger', ['cid', 'name', 'site'], unique=False,
                    postgresql_using='gin', postgresql_ops=TRIGRAMS)


def downgrade():
    op.drop_index('ix_charger_search_trgm', table_name='charger')
