"""Every domain's tables, imported so that metadata (and Alembic) sees them all."""
from app.models import base, chargers, customers, fleet, installations, messaging, people, support  # noqa: F401
