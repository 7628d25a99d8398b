"""Test harness: the real app on a real database, a real Celery worker on Redis, a real MQTT broker.

- Database: SQLite file per run by default; `TEST_DATABASE_URL=postgresql://.../NAME` runs the suite on
  PostgreSQL, in a database NAME_<run id> created for the run and dropped after it.
- Every run gets its own Celery queue and MQTT topic prefix, so concurrent runs never cross-talk.
- Between tests every table is emptied and the demo people (roles, one user per role,
  departments, field teams) are seeded again.
"""
from __future__ import annotations

import os
import re
import threading
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

RUN_ID = uuid.uuid4().hex[:8]
PASSWORD = "test-password"


def _ensure_postgres_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def _drop_postgres_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def test_config(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    database_url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{var_dir / 'test.db'}"
    if database_url.startswith("postgresql"):
        # a database of this run's own, so two runs on one server never empty each other's tables
        parsed = make_url(database_url)
        database_url = parsed.set(database=f"{parsed.database}_{RUN_ID}").render_as_string(hide_password=False)
        _ensure_postgres_database(database_url)
    yield {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "VAR_DIR": var_dir,
        "UPLOAD_DIR": var_dir / "uploads",
        "SECRET_KEY": "test-secret-of-at-least-thirty-two-bytes",
        "DEMO_PASSWORD": PASSWORD,
        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast hashes; the algorithm is not under test
        "AUTH_RATE_LIMIT": "1000 per 20 second",  # the real limit is tested in a fresh process
        "RATELIMIT_KEY_PREFIX": f"test{RUN_ID}",  # this run's own counters in the shared Redis
        "MQTT_TOPIC_PREFIX": f"test{RUN_ID}",
        "CELERY": {
            **__import__("config").CELERY,
            "task_default_queue": f"test-{RUN_ID}",
            "broker_url": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            "result_backend": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        },
    }
    if database_url.startswith("postgresql"):
        _drop_postgres_database(database_url)


class FreshContextClient(FlaskClient):
    """Each request gets its own app context (its own `g` and DB session), as in production,
    even while the test itself holds one open to inspect the database."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(test_config):
    from flask_appbuilder import Model

    from app import create_app
    from app.extensions import db

    flask_app = create_app(test_config)
    flask_app.test_client_class = FreshContextClient
    with flask_app.app_context():
        Model.metadata.drop_all(db.engine)
        Model.metadata.create_all(db.engine)
        flask_app.appbuilder.sm.sync_roles()
        _seed_people()
        _snapshot_people()
    yield flask_app
    with flask_app.app_context():
        db.session.remove()
        db.engine.dispose()


_token_cache: dict[str, str] = {}
STATIC_TABLES = {"ab_permission", "ab_view_menu", "ab_permission_view", "ab_permission_view_role", "ab_role"}


def _seed_people():
    from app.demo import people
    from app.extensions import db

    people.seed(db.session)
    db.session.commit()


_worker_app = None  # the Celery app of the running test worker, once started
_relay = None  # the outbox relay that runs beside it


def _wait_for_worker_idle(timeout: float = 15.0) -> None:
    """Let tasks a test queued finish before the tables go: a task must never meet a half-emptied database."""
    if _worker_app is None:
        return
    import time

    from celery.worker import state

    from app.services.outbox import pending_count

    queue = _worker_app.conf.task_default_queue
    deadline = time.monotonic() + timeout
    if _relay is not None and not _relay.paused.is_set():  # first the rows due, handed to the broker
        from app.extensions import db

        with _relay.app.app_context():
            while time.monotonic() < deadline and pending_count(db.session):
                db.session.rollback()
                time.sleep(0.05)
            db.session.remove()
    with _worker_app.connection_for_write() as conn:
        client = conn.default_channel.client
        while time.monotonic() < deadline:
            if not state.active_requests and not state.reserved_requests and not client.llen(queue):
                return
            time.sleep(0.05)


_people_snapshot: list = []  # [(table, rows)], parents first: the demo people as seeded at the start


def _snapshot_people():
    """Keep the rows the people seed wrote, so that every test starts from them again with one insert
    per table instead of a dozen add_user commits."""
    from flask_appbuilder import Model

    tables = [t for t in Model.metadata.sorted_tables if t.name not in STATIC_TABLES]
    written = _tables_with_rows(tables)
    _people_snapshot[:] = [
        (t, [dict(row._mapping) for row in db_session().execute(t.select())]) for t in tables if t.name in written
    ]


def _restore_people():
    from app.extensions import db

    for table, rows in _people_snapshot:
        db.session.execute(table.insert(), rows)
        if db.engine.dialect.name == "postgresql" and "id" in table.c:
            db.session.execute(text(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), (SELECT max(id) FROM \"{table.name}\"))"
            ))
    db.session.commit()


def _tables_with_rows(tables) -> set[str]:
    """The tables a test wrote to, in one round trip: most tests touch a handful of the ~80 tables."""
    probe = " UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables)
    return {name for (name,) in db_session().execute(text(probe))}


def db_session():
    from app.extensions import db

    return db.session


def _empty_tables():
    """Delete the rows of the tables a test wrote to, children first (history links are RESTRICT), and
    restart their ids. Much cheaper than a TRUNCATE of every table, which on PostgreSQL rewrites each
    table's files and costs seconds per test on a busy machine."""
    from flask_appbuilder import Model
    from sqlalchemy.exc import OperationalError

    from app.extensions import db

    tables = [t for t in reversed(Model.metadata.sorted_tables) if t.name not in STATIC_TABLES]
    postgres = db.engine.dialect.name == "postgresql"
    for attempt in range(3):
        db.session.rollback()
        try:
            written = _tables_with_rows(tables)
            for table in tables:
                if table.name not in written:
                    continue
                # RESTRICT is checked row by row: a self-reference (a reversal's entry) goes first
                self_refs = {fk.parent.name: None for fk in table.foreign_keys if fk.column.table is table}
                if self_refs:
                    db.session.execute(table.update().values(**self_refs))
                db.session.execute(table.delete())
                if postgres and "id" in table.c:
                    db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), 1, false)"))
            db.session.commit()
            return
        except OperationalError:  # a deadlock with a straggling task: wait for it and try again
            db.session.rollback()
            _wait_for_worker_idle()
    raise RuntimeError("could not empty the tables between tests")


@pytest.fixture(autouse=True)
def _clean_database(request, app):
    """Every test starts from the demo people and nothing else."""
    from app.extensions import db

    with app.app_context():
        yield
        db.session.remove()
    _token_cache.clear()  # user ids change when people are seeded again
    _wait_for_worker_idle()
    with app.app_context():  # a fresh context: no `g.user` left over from the test's requests
        _empty_tables()
        _restore_people()
        db.session.remove()


@pytest.fixture
def session(app):
    from app.extensions import db

    return db.session


@pytest.fixture
def client(app):
    return app.test_client()




class ApiClient:
    """A test client that sends `Authorization: Bearer <JWT>` for one demo user."""

    def __init__(self, flask_client, token: str):
        self.client = flask_client
        self.headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method, url, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return getattr(self.client, method)(url, headers=headers, **kwargs)

    def get(self, url, **kw):
        return self._call("get", url, **kw)

    def post(self, url, **kw):
        return self._call("post", url, **kw)

    def put(self, url, **kw):
        return self._call("put", url, **kw)

    def delete(self, url, **kw):
        return self._call("delete", url, **kw)


def jwt_for(flask_client, username: str) -> str:
    if username not in _token_cache:
        response = flask_client.post(
            "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        _token_cache[username] = response.json["access_token"]
    return _token_cache[username]


@pytest.fixture
def api_as(client):
    """api_as("manager").get("/api/v1/...") — a JWT-authenticated client for a demo user."""
    return lambda username: ApiClient(client, jwt_for(client, username))


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf token on the page"
    return match.group(1)


@pytest.fixture
def web_as(app):
    """web_as("agent") — a browser-like test client signed in through the real login form."""

    def login(username: str):
        flask_client = app.test_client()
        page = flask_client.get("/login/").get_data(as_text=True)
        response = flask_client.post(
            "/login/", data={"username": username, "password": PASSWORD, "csrf_token": csrf_token(page)}
        )
        assert response.status_code == 302 and "/login" not in response.headers["Location"], "login failed"
        return flask_client

    return login


@pytest.fixture(scope="session")
def celery_worker(app):
    """A real Celery worker (threads, in-process) consuming this run's queue on Redis."""
    from celery.contrib.testing.worker import start_worker

    from app.services.outbox import OutboxRelay

    global _worker_app, _relay
    celery_app = app.extensions["celery"]
    with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
        _worker_app = celery_app
        _relay = OutboxRelay(app).start()  # what the Procfile's relay process does: outbox rows -> Celery
        yield celery_app
        _relay.stop()
        _worker_app = _relay = None


@pytest.fixture
def session_relay_paused():
    """The session's outbox relay hands nothing over during the test (a test that runs its own relay
    and worker against a private broker); outbox rows left are dropped with the tables."""
    if _relay is not None:
        _relay.paused.set()
        with _relay.round_lock:  # a round under way finishes first
            pass
    yield
    if _relay is not None:
        _relay.paused.clear()


@pytest.fixture(scope="session")
def live_server(app):
    """The app served over real HTTP on 127.0.0.1 (for Playwright and concurrency tests)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright; no request may leave 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser page; every request that would leave 127.0.0.1 is blocked and recorded."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    outside: list[str] = []

    def guard(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            return route.continue_()
        outside.append(url)
        return route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.outside_requests = outside
    yield pg
    context.close()
    assert not outside, f"requests left 127.0.0.1: {outside}"


def browser_login(pg, username: str) -> None:
    pg.goto("/login/")
    pg.fill("input[name=username]", username)
    pg.fill("input[name=password]", PASSWORD)
    pg.click("input[type=submit], button[type=submit]")
    pg.wait_for_load_state("networkidle")


def screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def pytest_collection_modifyitems(items):
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
