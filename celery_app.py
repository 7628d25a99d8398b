"""The worker's and beat's entry: `celery -A celery_app worker|beat`."""
import sys
from pathlib import Path

# Celery puts the working directory on sys.path only while importing this module; tasks import
# top-level packages (reporting/, pipelines/) later, so the project root stays on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import create_app  # noqa: E402

flask_app = create_app()
celery = flask_app.extensions["celery"]
