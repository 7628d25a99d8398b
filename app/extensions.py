"""Extensions, created bare; `create_app()` wires them."""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask
from flask_appbuilder import AppBuilder
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = get_sqla_class()()
appbuilder = AppBuilder(update_perms=False)
migrate = Migrate()
csrf = CSRFProtect()  # every form post; REST APIs (JWT / API key) and signed webhooks are exempt

# Task modules, one per domain; the worker imports them all.
TASK_MODULES = [
    "app.tasks.customers",
    "app.tasks.support",
    "app.tasks.chargers",
    "app.tasks.fleet",
    "app.tasks.installations",
    "app.tasks.messaging",
    "app.tasks.field",
    "app.tasks.webhooks",
]


def celery_init_app(app: Flask) -> Celery:
    """Flask's pattern: every task runs inside the app context."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    celery_app = Celery(app.name, task_cls=FlaskTask, include=TASK_MODULES)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app
