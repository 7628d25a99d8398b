"""Every domain's tables, imported so that metadata (and Alembic) sees them all."""
from app.models import base, chargers, customers, fleet, installations, messaging, outbox, people, reports, support  # noqa: F401
from app.models import chargers_ocpp  # noqa: F401
from app.models import field  # noqa: F401,E402  (after the domains it refers to)
from app.models import field_app  # noqa: F401,E402
from app.models import webhooks  # noqa: F401,E402
