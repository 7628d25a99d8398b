"""The worker's and beat's entry: `celery -A celery_app worker|beat`."""
from app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
