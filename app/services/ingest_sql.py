"""The ingest's SQL: the dialect-specific statements of the hot path, and nowhere else.

Only this module tells SQLite and PostgreSQL apart (placeholders, COPY, datetime text, upserts).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

CHUNK = 500  # IN-list size per SELECT


def _chunks(values: list, size: int = CHUNK):
    for i in range(0, len(values), size):
        yield values[i:i + size]


def upsert(session: Session):
    """The dialect's INSERT with ON CONFLICT."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


class HotSql:
    """The hot path's four statements, written for the driver and run with exec_driver_sql.

    SQLAlchemy's per-row parameter processing cost more than the database's own work at
    thousands of rows a second (see bench/ingest.py), so these statements skip it:
    - SQLite: one executemany of a one-row statement (sqlite3 loops in C);
    - PostgreSQL: the rows are COPYed into a temporary table of the connection (psycopg writes
      COPY rows in C, several times cheaper than any parameter binding), and one statement
      applies them all from there.
    Only this class tells the dialects apart: placeholders, how SQLite stores a datetime (the
    same text SQLAlchemy writes) and the two expressions the heartbeat gap needs.
    """

    _instances: dict[str, "HotSql"] = {}

    @classmethod
    def of(cls, dialect) -> "HotSql":
        """One per dialect: statements are built once per process."""
        if dialect.name not in cls._instances:
            cls._instances[dialect.name] = cls(dialect)
        return cls._instances[dialect.name]

    SYNTHETIC = {"seen": "TIMESTAMP", "beat": "TIMESTAMP", "prev": "TIMESTAMP"}  # not columns of charger

    def __init__(self, dialect):
        self.dialect = dialect
        self.pg = dialect.name == "postgresql"
        self._cache: dict[Any, str] = {}
        self._staging: dict[Any, str] = {}

    def time(self, value: Optional[datetime]):
        if value is None or self.pg:
            return value
        return value.isoformat(" ", "microseconds")  # SQLAlchemy's SQLite DATETIME text

    def run(self, conn, key, build, names: tuple[str, ...], rows: list[dict]):
        """Run the statement `build(ref, source)` makes for these rows (built once per key)."""
        if key not in self._cache:
            self._staging[key] = f"ingest_staging_{len(self._staging)}"
            self._cache[key] = build(self._ref, self._source(key, names))
        if self.pg:
            self._stage(conn, key, names, rows)
            return conn.exec_driver_sql(self._cache[key])
        return conn.exec_driver_sql(self._cache[key], rows)

    def _ref(self, name: str) -> str:
        return f"v.{name}" if self.pg else f":{name}"

    def _source(self, key, names: tuple[str, ...]) -> str:
        """Where the values come from: PostgreSQL's staging table, or SQLite's one-row VALUES."""
        if not self.pg:
            return f"(VALUES ({', '.join(':' + n for n in names)}))"
        return f"{self._staging[key]} AS v"

    def _stage(self, conn, key, names: tuple[str, ...], rows: list[dict]) -> None:
        """COPY the rows into this connection's staging table for the statement (emptied at commit).

        CREATE .. IF NOT EXISTS in every transaction that stages: a batch that fails takes the
        table it created with it when it rolls back.
        """
        staging, table = self._staging[key], key[1]
        if ("create", key) not in self._cache:
            types = [self.SYNTHETIC.get(n) or table.c[n].type.compile(dialect=self.dialect) for n in names]
            columns = ", ".join(f"{n} {t}" for n, t in zip(names, types))
            self._cache[("create", key)] = (
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ({columns}) ON COMMIT DELETE ROWS")
        with conn.connection.driver_connection.cursor() as cursor:
            cursor.execute(self._cache[("create", key)])
            with cursor.copy(f"COPY {staging} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row[n] for n in names))

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.pg else f"max(coalesce({a}, {b}), coalesce({b}, {a}))"

    def seconds(self, later: str, earlier: str) -> str:
        if self.pg:
            return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
        return f"round((julianday({later}) - julianday({earlier})) * 86400.0, 3)"  # julianday is a double: ms

    def insert(self, conn, table, names: tuple[str, ...], rows: list[dict], tail: str = ""):
        """INSERT INTO table (names) <rows> [tail: ON CONFLICT .. / RETURNING ..]."""
        def build(ref, source):
            values = f"SELECT {', '.join(ref(n) for n in names)} FROM {source}" if self.pg else source[1:-1]
            return f"INSERT INTO {table.name} ({', '.join(names)}) {values} {tail}"
        return self.run(conn, ("insert", table, names, tail), build, names, rows)

    def claim(self, conn, table, names: tuple[str, ...], rows: list[dict]) -> dict[tuple[int, str], int]:
        """Insert the rows unless their (charger_id, dedup_key) is there already: {(charger, key): new id}."""
        tail = "ON CONFLICT (charger_id, dedup_key) DO NOTHING RETURNING id, charger_id, dedup_key"
        if self.pg:
            return {(charger_id, key): id_ for id_, charger_id, key in self.insert(conn, table, names, rows, tail)}
        fresh = {}  # sqlite3's executemany cannot return rows: a multi-row VALUES per chunk instead
        for chunk in _chunks(rows):
            key = ("claim", table, names, len(chunk))
            if key not in self._cache:
                values = ", ".join(["(" + ", ".join("?" * len(names)) + ")"] * len(chunk))
                self._cache[key] = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values} {tail}"
            params = tuple(row[n] for row in chunk for n in names)
            fresh.update({(charger_id, k): id_ for id_, charger_id, k in conn.exec_driver_sql(self._cache[key], params)})
        return fresh

    def update_chargers(self, conn, table, heartbeat: bool, columns: tuple[str, ...], rows: list[dict]) -> None:
        """Always last_seen/offline_after/offline; the heartbeat gap measured against the stored row; plain columns."""
        names = ("id", "seen", "offline_after") + (("beat", "prev") if heartbeat else ()) + columns

        def build(ref, source):
            sets = [f"last_seen = {ref('seen')}", f"offline_after = {ref('offline_after')}", "offline = false"]
            if heartbeat:
                stored = f"{table.name}.last_heartbeat_at"
                newer = f"({stored} IS NULL OR {stored} < {ref('beat')})"
                gap = self.seconds(ref("beat"), self.greatest(stored, ref("prev")))
                sets.append(f"last_heartbeat_gap = CASE WHEN {newer} THEN {gap} ELSE {table.name}.last_heartbeat_gap END")
                sets.append(f"last_heartbeat_at = CASE WHEN {newer} THEN {ref('beat')} ELSE {stored} END")
            sets += [f"{c} = {ref(c)}" for c in columns]
            if self.pg:
                return f"UPDATE {table.name} SET {', '.join(sets)} FROM {source} WHERE {table.name}.id = v.id"
            return f"UPDATE {table.name} SET {', '.join(sets)} WHERE id = :id"
        self.run(conn, ("chargers", table, heartbeat, columns), build, names, rows)
