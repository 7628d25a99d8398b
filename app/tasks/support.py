"""Support Celery tasks: load by id, call a service, decide retries."""
from __future__ import annotations
