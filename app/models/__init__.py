"""Every domain's tables, imported so that metadata (and Alembic) sees them all."""
from app.models import base, chargers, customers, installations, messaging, people, reports, support  # noqa: F401
