"""Live updates: the ingest's committed batch becomes a change note on Redis, streamed to open screens (SSE)."""
from __future__ import annotations

import json
import queue
import threading
import time

import pytest

from app.services import live


def test_a_note_says_which_chargers_changed_and_how():
    topics = ["p/chargers/CP-1/ocpp/StatusNotification", "p/chargers/CP-1/ocpp/MeterValues", "p/chargers/CP-2/telemetry",
              "p/chargers/CP-3/cmd/abc/result", "other/chargers/CP-9/ocpp/Heartbeat", "p/chargers/CP-4/nonsense"]
    note = live.change_note("p", topics, at=1.0)
    assert note == {"at": 1.0, "chargers": {"CP-1": ["MeterValues", "StatusNotification"], "CP-2": ["telemetry"],
                                            "CP-3": ["result"]}}
    assert live.change_note("p", ["x/y"]) is None
    many = live.change_note("p", [f"p/chargers/C{i}/telemetry" for i in range(live.MAX_CHARGERS_PER_NOTE + 1)])
    assert many["all"] is True and many["chargers"] == {}


@pytest.fixture
def stream_seconds(app):
    old = app.config["LIVE_STREAM_SECONDS"]
    app.config["LIVE_STREAM_SECONDS"] = 8
    yield 8
    app.config["LIVE_STREAM_SECONDS"] = old


def _read_events(response, events: queue.Queue) -> None:
    buffer = ""
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line and not line.startswith(":"))
            if "event" in fields:
                events.put((fields["event"], json.loads(fields.get("data") or "{}")))
    events.put(("end", {}))


def _next(events: queue.Queue, want, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event, data = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if want(event, data):
            return event, data
        if event == "end":
            return None
    return None


def test_a_fault_the_ingest_writes_reaches_the_open_stream(app, api_as, make_charger, ingest, fleet, stream_seconds):
    make_charger("APP-LV-1", type="L3", online=True)
    chargers = fleet(["APP-LV-1"])
    response = api_as("cpo").get("/api/v1/live/stream", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_read_events, args=(response, events), daemon=True)
    reader.start()
    assert _next(events, lambda e, d: e == "hello")
    chargers.fault("APP-LV-1", 1)
    change = _next(events, lambda e, d: e == "change" and "APP-LV-1" in d.get("chargers", {}))
    assert change, "no change note for the faulted charger"
    assert "StatusNotification" in change[1]["chargers"]["APP-LV-1"]
    assert _next(events, lambda e, d: e == "end")  # the stream ends by itself; the app reconnects
    reader.join(timeout=30)
    response.close()


def test_the_stream_says_so_when_redis_is_away(app, api_as):
    old = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        response = api_as("cpo").get("/api/v1/live/stream")
    finally:
        app.config["REDIS_URL"] = old
    assert response.status_code == 503 and response.headers["Retry-After"] and response.json["message"]


def test_streams_beyond_the_limit_are_told_to_come_back(app, api_as):
    old = app.config["LIVE_MAX_STREAMS"]
    app.config["LIVE_MAX_STREAMS"] = 0  # every thread busy: a new stream must not take one more
    try:
        response = api_as("cpo").get("/api/v1/live/stream")
    finally:
        app.config["LIVE_MAX_STREAMS"] = old
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_publishing_never_fails_the_ingest():
    class Item:
        topic = "p/chargers/CP-1/telemetry"

    assert live.publish_changes("p", [Item()]) is True
    assert live.publish_changes("p", [type("X", (), {"topic": "nothing"})()]) is False
    assert live.publish_changes("p", [object()]) is False  # a malformed batch is logged, not raised
