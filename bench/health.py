"""Baseline: the bare login page and /health over the WSGI stack, p50/p95."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import measure, report  # noqa: E402


def main() -> None:
    from flask_appbuilder import Model

    from app import create_app
    from app.extensions import db

    tmp = Path(tempfile.mkdtemp())
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.db'}", "VAR_DIR": tmp, "UPLOAD_DIR": tmp / "u"})
    with app.app_context():
        Model.metadata.create_all(db.engine)
        app.appbuilder.sm.sync_roles()
    client = app.test_client()
    login = measure(lambda: client.get("/login/"), repeat=300)
    report("login page", login)
    report("/health (db + redis + mqtt)", measure(lambda: client.get("/health"), repeat=100), login)


if __name__ == "__main__":
    main()
