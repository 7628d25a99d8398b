"""Remote commands round trip through the simulator on the real broker: Accepted, Rejected, Timeout, queueing."""
from __future__ import annotations

import json

from sqlalchemy import select

from app.models.chargers import Charger, ChargerCommand, ChargerMessage
from app.models.people import ActivityLog
from tests.chargers.conftest import wait_for


def _register(session, *cids):
    from datetime import timedelta

    from app.models.base import utcnow

    for cid in cids:  # heard from a moment ago: online (commands to an Offline charger are refused)
        session.add(Charger(cid=cid, name=f"Charger {cid}", type="L2", heartbeat_interval=60, offline=False,
                            last_seen=utcnow(), offline_after=utcnow() + timedelta(minutes=10)))
    session.commit()


def _status(session, command_id):
    return session.scalar(select(ChargerCommand.status).where(ChargerCommand.command_id == command_id))


def test_accepted_round_trip_is_stored_published_answered_and_audited(session, api_as, ingest, fleet):
    _register(session, "CMD-1")
    f = fleet(["CMD-1"])
    api = api_as("cpo")
    sent = api.post("/api/v1/chargers/CMD-1/commands", json={"action": "Reset", "payload": {"type": "Soft"}})
    assert sent.status_code == 202, sent.json
    command_id = sent.json["command_id"]
    assert wait_for(session, lambda: _status(session, command_id) == "Accepted")
    assert f.commands_seen[0]["action"] == "Reset" and f.commands_seen[0]["payload"] == {"type": "Soft"}
    assert f.commands_seen[0]["command_id"] == command_id and f.commands_seen[0]["ts"].endswith("Z")
    got = api.get(f"/api/v1/commands/{command_id}")
    assert got.status_code == 200
    assert got.json["status"] == "Accepted" and got.json["result"] == {"status": "Accepted"}
    assert got.json["created_by"] == "cpo" and got.json["sent_at"] and got.json["answered_at"]
    audit = session.scalar(select(ActivityLog).where(ActivityLog.kind == "charger_command"))
    assert audit.user.username == "cpo" and "Reset" in audit.description and "CMD-1" in audit.description
    # the reboot that followed the reset came back through the ingest
    assert wait_for(session, lambda: session.scalar(select(ChargerMessage).where(ChargerMessage.action == "BootNotification")))
    outgoing = session.scalar(select(ChargerMessage).where(ChargerMessage.direction == "out"))
    assert outgoing.action == "Reset" and outgoing.msg_id == command_id


def test_every_action_reaches_the_charger_with_its_ocpp_conf(session, api_as, ingest, fleet, celery_worker):  # queued commands are released through the outbox
    _register(session, "CMD-2")
    f = fleet(["CMD-2"], boot=True)
    api = api_as("installer")
    tx = f.start_session("CMD-2", 2)
    cases = [
        ("RemoteStartTransaction", {"connectorId": 1, "idTag": "APP-7"}, "Accepted"),
        ("RemoteStopTransaction", {"transactionId": tx}, "Accepted"),
        ("UnlockConnector", {"connectorId": 1}, "Unlocked"),
        ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, "Accepted"),
        ("TriggerMessage", {"requestedMessage": "Heartbeat"}, "Accepted"),
        ("UpdateFirmware", {"location": "https://fw.example/sc-1.5.0.bin", "retrieveDate": "2026-11-21T08:00:00Z"}, "Accepted"),
        ("GetDiagnostics", {"location": "ftp://diag.example/"}, "Accepted"),
    ]
    ids = []
    for action, payload, _ in cases:  # sent back to back: they queue and go out one at a time
        response = api.post("/api/v1/chargers/CMD-2/commands", json={"action": action, "payload": payload})
        assert response.status_code == 202, response.json
        ids.append(response.json["command_id"])
    for (action, _, expected), command_id in zip(cases, ids):
        assert wait_for(session, lambda: _status(session, command_id) == expected, timeout=15), (action, _status(session, command_id))
    assert wait_for(session, lambda: session.scalar(select(Charger).where(Charger.cid == "CMD-2", Charger.diagnostics_status == "Uploaded")))
    assert wait_for(session, lambda: session.scalar(select(Charger.firmware_status).where(Charger.cid == "CMD-2")) == "Installed")
    diag = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == ids[-1]))
    assert json.loads(diag.result) == {"fileName": "diagnostics-CMD-2.zip"}
    assert [c["action"] for c in f.commands_seen] == [c[0] for c in cases]  # strictly in order, one in flight


def test_rejected_is_recorded(session, api_as, ingest, fleet):
    _register(session, "CMD-3")
    fleet(["CMD-3"], answer="reject")
    command_id = api_as("dispatcher").post(
        "/api/v1/chargers/CMD-3/commands", json={"action": "UnlockConnector", "payload": {"connectorId": 1}}).json["command_id"]
    assert wait_for(session, lambda: _status(session, command_id) == "Rejected")


def test_timeout_then_the_queued_command_goes_out_and_a_late_result_is_still_recorded(
        app, session, api_as, ingest, fleet, celery_worker, short_command_timeout):
    _register(session, "CMD-4")
    f = fleet(["CMD-4"], answer="silent")
    api = api_as("manager")
    first = api.post("/api/v1/chargers/CMD-4/commands", json={"action": "Reset", "payload": {"type": "Hard"}}).json
    second = api.post("/api/v1/chargers/CMD-4/commands", json={"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}}).json
    assert first["status"] == "Sent" and second["status"] == "Queued"
    assert api.get(f"/api/v1/commands/{second['command_id']}").json["status"] == "Queued"
    assert wait_for(session, lambda: _status(session, first["command_id"]) == "Timeout", timeout=20)
    assert wait_for(session, lambda: _status(session, second["command_id"]) in ("Sent", "Timeout"), timeout=20)
    assert [c["command_id"] for c in f.commands_seen][:2] == [first["command_id"], second["command_id"]]
    # the charger answers the first one long after: still recorded, marked late
    f.publish(f"{app.config['MQTT_TOPIC_PREFIX']}/chargers/CMD-4/cmd/{first['command_id']}/result",
              {"ts": "2026-11-21T08:15:00Z", "status": "Accepted", "payload": {"status": "Accepted"}})
    assert wait_for(session, lambda: _status(session, first["command_id"]) == "Accepted")
    late = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == first["command_id"]))
    assert late.late is True and late.timed_out_at is not None


def test_bad_commands_are_refused_with_a_message_and_nothing_stored(session, api_as):
    _register(session, "CMD-5")
    api = api_as("cpo")
    for body, words in [
        ({"action": "SelfDestruct", "payload": {}}, "action must be one of"),
        ({"action": "Reset", "payload": {"type": "Gentle"}}, "Soft or Hard"),
        ({"action": "Reset", "payload": "Soft"}, "JSON object"),
        ({"action": "RemoteStopTransaction", "payload": {"transactionId": "12"}}, "transactionId"),
        ({"action": "RemoteStartTransaction", "payload": {}}, "idTag"),
        ({"action": "ChangeAvailability", "payload": {"connectorId": 0, "type": "Off"}}, "Inoperative"),
        ({"action": "TriggerMessage", "payload": {"requestedMessage": "Coffee"}}, "requestedMessage"),
        ({"action": "UnlockConnector", "payload": {"connectorId": 0}}, "connectorId"),
    ]:
        response = api.post("/api/v1/chargers/CMD-5/commands", json=body)
        assert response.status_code == 400 and words in response.json["message"], (body, response.json)
    assert api.post("/api/v1/chargers/NOPE/commands", json={"action": "Reset", "payload": {"type": "Soft"}}).status_code == 404
    assert api.post("/api/v1/chargers/CMD-5/commands", data="x", content_type="text/plain").status_code == 400
    assert api.get("/api/v1/commands/00000000-0000-0000-0000-000000000000").status_code == 404
    assert session.scalar(select(ChargerCommand)) is None


def test_who_may_send_commands_follows_the_matrix(session, api_as):
    _register(session, "CMD-6")
    for username in ("agent", "finance", "oem_tata"):
        response = api_as(username).post("/api/v1/chargers/CMD-6/commands", json={"action": "Reset", "payload": {"type": "Soft"}})
        assert response.status_code == 403, username
    assert session.scalar(select(ChargerCommand)) is None


def test_sweep_times_out_by_send_time_and_releases_the_queue(session):
    from datetime import timedelta

    from app.models.base import utcnow
    from app.services import chargers_commands

    _register(session, "CMD-7")
    first = chargers_commands.create_command(session, "CMD-7", "Reset", {"type": "Soft"}, None)
    queued = chargers_commands.create_command(session, "CMD-7", "UnlockConnector", {"connectorId": 1}, None)
    assert (first.status, queued.status) == ("Pending", "Queued")
    first.status, first.sent_at = "Sent", utcnow() - timedelta(seconds=31)
    session.commit()
    assert chargers_commands.sweep_command_timeouts(session) == [first.command_id]
    assert chargers_commands.release_next_command(session, first.charger_id) == queued.command_id
    queued.created_at = utcnow() - timedelta(hours=1)  # waited long in the queue, but was only just sent
    queued.status, queued.sent_at = "Sent", utcnow()
    session.commit()
    assert chargers_commands.sweep_command_timeouts(session) == []


def test_demo_fleet_is_idempotent_and_spread_over_sri_lanka(session):
    from app.demo import chargers as demo
    from app.services import chargers

    demo.seed(session)
    session.commit()
    demo.seed(session)
    session.commit()
    fleet = session.scalars(select(Charger)).all()
    assert 190 <= len(fleet) <= 220
    assert {"L2", "L3"} == {c.type for c in fleet}
    assert all(5.9 < c.latitude < 9.9 and 79.6 < c.longitude < 81.9 for c in fleet)
    assert {"Colombo Fort", "Kandy City Centre", "Galle Fort"} <= {c.site for c in fleet}
    summary = chargers.network_summary(session)
    assert sum(summary["L2"].values()) + sum(summary["L3"].values()) == len(fleet)
    assert summary["L2"]["Offline"] > 0 and summary["L2"]["Available"] > 0
