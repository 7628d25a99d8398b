"""The ingest against the real Mosquitto: every message type, duplicates, garbage, state, sessions."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.integrations.mqtt import make_client
from app.models.base import utcnow
from app.models.chargers import Charger, ChargerFault, ChargerMessage, ChargingSession, Connector
from app.services import chargers_health
from app.services.chargers_ingest import Ingestor
from app.services.ocpp_rules import ChargerUpdate
from tests.chargers.conftest import wait_for


def _count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def _charger(session, cid):
    return session.scalar(select(Charger).where(Charger.cid == cid))


def test_every_message_type_lands_in_charger_state_sessions_and_raw_stream(app, session, ingest, fleet):
    session.add(Charger(cid="CP-1", name="Fort #1", type="L3", heartbeat_interval=60))
    session.commit()
    f = fleet(["CP-1"])
    f.boot("CP-1")
    f.heartbeat("CP-1")
    f.telemetry("CP-1", rssi_dbm=-71, temperature_c=41.5)
    tx = f.start_session("CP-1", 1, "RFID-77")
    f.meter_values("CP-1", 1, seconds=3600)  # an hour at the charger's power
    f.ocpp("CP-1", "FirmwareStatusNotification", {"status": "Downloading"})
    f.ocpp("CP-1", "DiagnosticsStatusNotification", {"status": "Uploaded"})
    f.ocpp("CP-1", "DataTransfer", {"vendorId": "SimCharge", "data": "hello"})
    assert wait_for(session, lambda: _count(session, ChargerMessage) >= 13)

    charger = _charger(session, "CP-1")
    assert (charger.vendor, charger.model, charger.serial, charger.firmware_version) == (
        "SimCharge", f"SC-{int(f.chargers['CP-1'].power_kw)}", "SN-CP-1", "1.4.2")
    assert charger.last_rssi == -71 and charger.temperature_c == 41.5
    assert charger.firmware_status == "Downloading" and charger.diagnostics_status == "Uploaded"
    assert charger.last_seen is not None and charger.offline_after > charger.last_seen
    assert charger.unregistered is False
    statuses = {c.connector_id: c.status for c in charger.connectors}
    assert statuses == {0: "Available", 1: "Charging", 2: "Available"}
    s = session.scalar(select(ChargingSession).where(ChargingSession.transaction_id == tx))
    assert s.status == "Active" and s.id_tag == "RFID-77" and s.connector_id == 1
    assert s.energy_kwh > 0 and 6 < s.power_kw <= 22

    meter = f.chargers["CP-1"].meter_wh
    f.stop_session("CP-1", 1)
    assert wait_for(session, lambda: session.scalar(
        select(ChargingSession.status).where(ChargingSession.transaction_id == tx)) == "Completed")
    s = session.scalar(select(ChargingSession).where(ChargingSession.transaction_id == tx))
    assert s.meter_stop == meter and s.stopped_at is not None and s.power_kw == 0
    assert abs(s.energy_kwh - (meter - s.meter_start) / 1000) < 1e-9
    actions = set(session.scalars(select(ChargerMessage.action)))
    assert {"BootNotification", "Heartbeat", "StatusNotification", "StartTransaction", "MeterValues", "StopTransaction",
            "FirmwareStatusNotification", "DiagnosticsStatusNotification", "DataTransfer", "Telemetry"} <= actions
    assert ingest.stats["batches"] < ingest.stats["applied"]  # batched, not a commit per message


def test_unknown_identity_is_auto_registered_and_flagged(session, ingest, fleet):
    f = fleet(["NEW-42"])
    f.heartbeat("NEW-42")
    charger = wait_for(session, lambda: _charger(session, "NEW-42"))
    assert charger.unregistered is True and charger.name == "NEW-42" and charger.type == "L2"


def test_redelivered_duplicates_are_dropped(session, ingest, fleet):
    f = fleet(["CP-D"])
    f.set_status("CP-D", 1, "Available")
    f.ocpp("CP-D", "StatusNotification", {"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"}, msg_id="m-1")
    assert wait_for(session, lambda: _count(session, ChargerMessage) == 2)
    # redelivered in a later batch (the stored stream is the filter), then twice within one batch
    f.ocpp("CP-D", "StatusNotification", {"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"}, msg_id="m-1")
    f.ocpp("CP-D", "Heartbeat", {}, msg_id="m-2")
    f.ocpp("CP-D", "Heartbeat", {}, msg_id="m-2")
    assert wait_for(session, lambda: ingest.stats["duplicates"] == 2)  # counted once the writer reports back
    assert _count(session, ChargerMessage) == 3
    assert _count(session, ChargerMessage, ChargerMessage.dedup_key == "m-1") == 1
    fault = session.scalar(select(ChargerFault))
    assert fault.occurrences == 1 and fault.error_code == "GroundFailure"


def test_garbage_is_logged_counted_and_survived(app, session, ingest, fleet):
    prefix = app.config["MQTT_TOPIC_PREFIX"]
    f = fleet(["CP-G"])
    raw, _ = make_client(app.config["MQTT_URL"])
    raw.connect("127.0.0.1", 1883)
    raw.loop_start()
    for topic, body in [
        (f"{prefix}/chargers/CP-G/ocpp/Heartbeat", b"\xff\xfe not json"),
        (f"{prefix}/chargers/CP-G/ocpp/Heartbeat", b"[1, 2, 3]"),
        (f"{prefix}/chargers/CP-G/ocpp/FlyToTheMoon", json.dumps({"msg_id": "x1", "payload": {}}).encode()),
        (f"{prefix}/chargers/CP-G/ocpp/StatusNotification", json.dumps({"msg_id": "x2", "payload": "nope"}).encode()),
        (f"{prefix}/chargers/CP-G/ocpp/MeterValues", json.dumps({"msg_id": "x3", "payload": {"meterValue": 5}}).encode()),
        (f"{prefix}/chargers/CP-G/telemetry", json.dumps({"rssi_dbm": "loud"}).encode()),
        (f"{prefix}/chargers/CP-G/cmd/not-a-command/result", json.dumps({"status": "Accepted"}).encode()),
        (f"{prefix}/chargers/bad id!/ocpp/Heartbeat", b"{}"),
        (f"{prefix}/chargers/CP-G/ocpp/StatusNotification",
         json.dumps({"ts": "yesterday", "msg_id": "x4", "payload": {"connectorId": 1, "status": "Faulted", "errorCode": "E-VENDOR-77"}}).encode()),
    ]:
        raw.publish(topic, body, qos=1).wait_for_publish(5)
    raw.disconnect()
    raw.loop_stop()
    f.heartbeat("CP-G")  # a good message after the garbage still lands
    assert wait_for(session, lambda: _count(session, ChargerMessage, ChargerMessage.action == "Heartbeat", ChargerMessage.flag.is_(None)) == 1)
    assert wait_for(session, lambda: ingest.stats["malformed"] >= 3) and ingest.stats["errors"] == 0
    flags = " | ".join(session.scalars(select(ChargerMessage.flag).where(ChargerMessage.flag.is_not(None))))
    for expected in ("not a JSON object", "unknown action FlyToTheMoon", "payload is not an object",
                     "meterValue is not a list", "rssi_dbm is not a number", "result for an unknown command",
                     "unknown errorCode 'E-VENDOR-77'", "bad ts"):
        assert expected in flags
    # the usable part of a spec-breaking message is kept: the connector is Faulted, the code kept and flagged
    connector = session.scalar(select(Connector).where(Connector.connector_id == 1))
    assert connector.status == "Faulted" and connector.error_code == "E-VENDOR-77"
    assert session.scalar(select(ChargerFault.nonstandard)) is True


def test_fault_episode_opens_repeats_and_clears(session, ingest, fleet):
    f = fleet(["CP-F"])
    f.fault("CP-F", 1, "HighTemperature")
    f.fault("CP-F", 1, "HighTemperature")
    f.recover("CP-F", 1)
    assert wait_for(session, lambda: session.scalar(select(ChargerFault.cleared_at)) is not None)
    fault = session.scalar(select(ChargerFault))
    assert fault.occurrences == 2 and fault.error_code == "HighTemperature" and fault.vendor_error_code == "E42"


def _beat(f, cid, at, msg_id):
    f.publish(f"{f.prefix}/chargers/{cid}/ocpp/Heartbeat",
              {"ts": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "msg_id": msg_id, "payload": {}}).wait_for_publish(5)


def test_heartbeat_gap_is_measured_by_the_database_from_the_previous_heartbeat(session, ingest, fleet):
    """The ingest never reads the charger row: the UPDATE itself measures the gap, across batches."""
    session.add(Charger(cid="CP-H", name="Gap", type="L2", heartbeat_interval=60))
    session.commit()
    f = fleet(["CP-H"])
    t0 = (utcnow() - timedelta(minutes=20)).replace(microsecond=0)

    def state():
        session.rollback()
        c = _charger(session, "CP-H")
        return c.last_heartbeat_at, c.last_heartbeat_gap

    _beat(f, "CP-H", t0, "h1")
    assert wait_for(session, lambda: state() == (t0, None))
    _beat(f, "CP-H", t0 + timedelta(seconds=90), "h2")
    assert wait_for(session, lambda: state() == (t0 + timedelta(seconds=90), 90.0))
    _beat(f, "CP-H", t0 + timedelta(seconds=150), "h3")
    _beat(f, "CP-H", t0 + timedelta(seconds=160), "h4")
    assert wait_for(session, lambda: state() == (t0 + timedelta(seconds=160), 10.0))
    _beat(f, "CP-H", t0 + timedelta(seconds=100), "h5")  # an old heartbeat delivered late changes nothing
    assert wait_for(session, lambda: _count(session, ChargerMessage) == 5)
    assert state() == (t0 + timedelta(seconds=160), 10.0)
    f.boot("CP-H")  # a reboot restarts the clock: no gap until the next heartbeat
    assert wait_for(session, lambda: state()[1] is None and state()[0] > t0 + timedelta(seconds=160))


def test_heartbeats_and_a_boot_in_one_batch_replay_in_order():
    """Within a batch the result does not depend on the stored row once a boot is in it."""
    t0 = datetime(2026, 11, 21, 8, 0, 0)
    c = ChargerUpdate(1, "CP-1", 60)
    c.beats += [t0, t0 + timedelta(seconds=60)]
    assert c.heartbeat_columns() == (t0 + timedelta(seconds=60), t0)  # latest and the one before: the UPDATE does the rest
    c.boot_at, c.beats = t0 + timedelta(seconds=100), [t0 + timedelta(seconds=130), t0 + timedelta(seconds=125)]
    assert c.heartbeat_columns() == (None, None)
    assert c.values == {"last_heartbeat_at": t0 + timedelta(seconds=130), "last_heartbeat_gap": 30.0}


def test_a_status_in_the_same_second_as_the_stored_one_is_not_taken_for_an_older_one(session, ingest, fleet):
    """Chargers stamp whole seconds; the back office stamps microseconds. A connector created at hh:mm:ss.5 and
    a Faulted stamped hh:mm:ss is the newer news; one stamped a second earlier is a late delivery."""
    held = utcnow().replace(microsecond=500000) - timedelta(seconds=30)
    charger = Charger(cid="CP-SEC", name="Same second", type="L3", heartbeat_interval=60)
    session.add(charger)
    session.flush()
    session.add_all([Connector(charger_id=charger.id, connector_id=n, status="Available", error_code="NoError",
                               updated_at=held) for n in (1, 2)])
    session.commit()
    f = fleet(["CP-SEC"])
    def status(connector, status, error_code, at):  # the envelope's ts is the charger's clock
        f.publish(f"{f.prefix}/chargers/CP-SEC/ocpp/StatusNotification", {
            "ts": at.replace(microsecond=0).isoformat() + "Z", "msg_id": uuid.uuid4().hex[:16],
            "payload": {"connectorId": connector, "status": status, "errorCode": error_code}})

    status(2, "Unavailable", "NoError", held - timedelta(seconds=1))
    status(1, "Faulted", "GroundFailure", held)
    assert wait_for(session, lambda: _count(session, ChargerMessage) == 2)

    statuses = {c.connector_id: c.status for c in _charger(session, "CP-SEC").connectors}
    assert statuses == {1: "Faulted", 2: "Available"}
    assert _count(session, ChargerFault, ChargerFault.cleared_at.is_(None)) == 1


def test_an_opened_session_keeps_what_chargers_send_before_the_ingest_first_starts(app, session, fleet):
    """`make run` opens the ingest's session first: a boot sent in the ingest's first seconds is not lost."""
    client_id = f"ingest-test-{uuid.uuid4().hex[:8]}"
    first = Ingestor(app, client_id=client_id, session_expiry=120, batch_ms=20)
    assert first.open_session()
    f = fleet(["CP-EARLY"])
    f.boot("CP-EARLY")  # the ingest has never run with this id yet
    ingestor = Ingestor(app, client_id=client_id, session_expiry=120, batch_ms=20).start()
    try:
        assert wait_for(session, lambda: _count(session, ChargerMessage) >= 3)
        assert session.scalar(select(Charger.vendor).where(Charger.cid == "CP-EARLY")) == "SimCharge"
    finally:
        ingestor.stop(discard_session=True)


def test_a_message_brings_a_charger_marked_offline_back_online(session, ingest, fleet):
    session.add(Charger(cid="CP-O", name="Offline", type="L2", heartbeat_interval=60))
    session.commit()
    f = fleet(["CP-O"])
    f.heartbeat("CP-O")
    assert wait_for(session, lambda: _charger(session, "CP-O").last_seen is not None)
    assert chargers_health.sweep_offline(session, now=utcnow() + timedelta(hours=1)) == [_charger(session, "CP-O").id]
    session.commit()
    f.heartbeat("CP-O")
    assert wait_for(session, lambda: _charger(session, "CP-O").offline is False)


def test_a_charger_registered_again_under_a_new_id_still_gets_its_traffic(session, ingest, fleet):
    """The ingest keeps cid -> id in memory; a stale id fails the batch, which is retried with a fresh lookup."""
    session.add(Charger(cid="CP-R", name="First life", type="L2"))
    session.commit()
    f = fleet(["CP-R"])
    f.telemetry("CP-R", rssi_dbm=-70)  # not an OCPP message: the failing batch below is the first to claim msg_ids
    assert wait_for(session, lambda: _count(session, ChargerMessage) == 1)
    first = _charger(session, "CP-R")
    session.query(ChargerMessage).filter(ChargerMessage.charger_id == first.id).delete()  # history refuses the delete
    session.delete(first)
    session.add(Charger(cid="CP-OTHER", name="Takes the old id's place", type="L2"))
    session.commit()
    session.add(Charger(cid="CP-R", name="Second life", type="L2"))
    session.commit()
    new_id = _charger(session, "CP-R").id
    f.heartbeat("CP-R")
    assert wait_for(session, lambda: _count(session, ChargerMessage, ChargerMessage.charger_id == new_id) == 1)
    assert _charger(session, "CP-R").last_heartbeat_at is not None
    assert ingest.stats["errors"] == 0


def test_the_writer_can_run_as_a_thread_of_the_receiver(app, session, fleet):
    ingestor = Ingestor(app, client_id=f"ingest-thread-{uuid.uuid4().hex[:8]}", session_expiry=120, batch_ms=20,
                        writer_process=False)
    ingestor.start()
    try:
        f = fleet(["CP-T"])
        f.boot("CP-T")
        f.heartbeat("CP-T")
        assert wait_for(session, lambda: _count(session, ChargerMessage) >= 5)  # boot, 3 statuses, heartbeat
        charger = _charger(session, "CP-T")
        assert charger.vendor == "SimCharge" and charger.last_heartbeat_at is not None and len(charger.connectors) == 3
    finally:
        ingestor.stop(discard_session=True)


def test_two_ingest_processes_share_the_subscription_and_agree_on_state(app, session, fleet):
    """The contract's scale-out: $share/ingest/... splits the traffic; blind and monotonic writes keep state right."""
    session.add_all([Charger(cid=f"CP-S{n}", name=f"Shared {n}", type="L2", heartbeat_interval=60) for n in range(4)])
    session.commit()
    ingestors = [Ingestor(app, client_id=f"ingest-share-{n}-{uuid.uuid4().hex[:6]}", session_expiry=120, batch_ms=5).start()
                 for n in range(2)]
    try:
        f = fleet([f"CP-S{n}" for n in range(4)])
        t0 = (utcnow() - timedelta(minutes=30)).replace(microsecond=0)
        for i in range(60):
            for n in range(4):
                _beat(f, f"CP-S{n}", t0 + timedelta(seconds=10 * i), f"s{n}-{i}")
        assert wait_for(session, lambda: _count(session, ChargerMessage) == 240, timeout=20)
        assert all(i.stats["applied"] > 0 for i in ingestors), [i.stats for i in ingestors]  # both took a share
        assert sum(i.stats["errors"] for i in ingestors) == 0
        for n in range(4):
            charger = _charger(session, f"CP-S{n}")
            assert charger.last_heartbeat_at == t0 + timedelta(seconds=590)  # the latest wins, whoever wrote it last
            # a heartbeat the other process commits later than its successor is skipped by the gap, not reversed
            assert charger.last_heartbeat_gap in (10.0, 20.0, 30.0)
    finally:
        for i in ingestors:
            i.stop(discard_session=True)
