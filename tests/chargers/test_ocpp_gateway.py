"""The OCPP 1.6J gateway against the `ocpp` library's own ChargePoint client, with the real ingest,
Mosquitto and database: what a charger bought off the shelf would see, and what ChargeOps records."""
from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from sqlalchemy import select, update
from websockets.exceptions import InvalidStatus

from app.models.base import utcnow
from app.models.chargers import Charger, ChargerCommand, ChargingSession
from app.models.chargers_ocpp import ChargerOcppLink, OcppTransaction
from app.ocpp.gateway import Gateway
from app.services import chargers_ocpp
from app.services.customers import create_customer
from app.services.customers_wallet import adjust_wallet
from tests.chargers.conftest import wait_for

PASSWORD = "a-long-ocpp-secret-1234"


class ClientLoop:
    """An asyncio loop in a thread for the client chargers; run(coro) from the test."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class OffTheShelfCharger(ChargePoint):
    """The library's client side, with the handlers a charger has for our commands."""

    def __init__(self, cid, connection):
        super().__init__(cid, connection, response_timeout=20)
        self.resets: list[str] = []

    @on(Action.reset)
    def on_reset(self, type, **_):
        self.resets.append(type)
        return call_result.Reset(status="Accepted")


def basic(cid: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{password}".encode()).decode()}


@pytest.fixture
def gateway(app):
    gw = Gateway(app, host="127.0.0.1", port=0, node=f"test-gw-{uuid.uuid4().hex[:6]}").start()
    yield gw
    gw.stop()


@pytest.fixture
def clients():
    loop = ClientLoop()
    opened = []

    async def connect(url, cid, password=PASSWORD):
        ws = await websockets.connect(url + cid, subprotocols=["ocpp1.6"], additional_headers=basic(cid, password))
        cp = OffTheShelfCharger(cid, ws)
        cp.task = asyncio.get_running_loop().create_task(cp.start())
        opened.append(cp)
        return cp

    loop.connect = lambda url, cid, password=PASSWORD: loop.run(connect(url, cid, password))
    yield loop

    async def close_all():
        for cp in opened:
            cp.task.cancel()
            await cp._connection.close()

    loop.run(close_all())
    loop.close()


def _charger_with_password(session, cid: str, password: str = PASSWORD) -> None:
    session.add(Charger(cid=cid, name=f"Charger {cid}", type="L2", heartbeat_interval=60))
    session.commit()
    chargers_ocpp.set_ocpp_password(session, cid, password, None)
    session.commit()


def _wait_online(session, cid: str) -> bool:
    """The ingest has written the boot: the API takes commands only for a charger that is not Offline."""
    return wait_for(session, lambda: (session.scalar(select(Charger.offline_after).where(Charger.cid == cid)) or utcnow()) > utcnow())


def _customer_with_tag(session, tag: str, balance: str) -> int:
    customer = create_customer(session, {"name": f"Driver {tag}", "tags": [tag]})
    session.commit()
    if Decimal(balance) > 0:
        adjust_wallet(session, customer.id, balance, user_id=None, reason="opening credit", reference=f"open-{tag}")
        session.commit()
    return customer.id


def test_boot_turns_the_charger_available_and_the_link_shows_connected(session, api_as, ingest, gateway, clients):
    _charger_with_password(session, "OCPP-1")
    cp = clients.connect(gateway.url, "OCPP-1")
    boot = clients.run(cp.call(call.BootNotification(charge_point_model="Terra AC", charge_point_vendor="ABB")))
    assert boot.status == "Accepted" and boot.interval == 60  # the registry's heartbeat interval
    for connector in (0, 1):
        clients.run(cp.call(call.StatusNotification(connector_id=connector, error_code="NoError", status="Available")))
    beat = clients.run(cp.call(call.Heartbeat()))
    assert beat.current_time.endswith("Z")
    api = api_as("cpo")

    def available():
        body = api.get("/api/v1/network/chargers/OCPP-1").json
        # every CALL is its own MQTT message: the boot's fields may land a batch after the statuses
        ready = body["bucket"] == "Available" and len(body["connectors"]) == 2 and body["vendor"] == "ABB"
        return body if ready else None

    detail = wait_for(session, available)
    assert detail, api.get("/api/v1/network/chargers/OCPP-1").json
    assert detail["vendor"] == "ABB" and detail["model"] == "Terra AC"
    assert detail["ocpp"]["connected"] is True and detail["ocpp"]["since"] and detail["ocpp"]["password_set"]
    page = api_as("cpo").client.get("/chargers/network/OCPP-1")  # not signed in on the web: the page is FAB's
    assert page.status_code == 302


def test_customer_tag_accepted_unknown_invalid_empty_wallet_blocked(session, ingest, gateway, clients):
    _charger_with_password(session, "OCPP-2")
    _customer_with_tag(session, "RFID-GOOD", "500.00")
    _customer_with_tag(session, "RFID-BROKE", "0")
    cp = clients.connect(gateway.url, "OCPP-2")
    assert clients.run(cp.call(call.Authorize(id_tag="RFID-GOOD"))).id_tag_info["status"] == "Accepted"
    assert clients.run(cp.call(call.Authorize(id_tag="NOBODY-123"))).id_tag_info["status"] == "Invalid"
    assert clients.run(cp.call(call.Authorize(id_tag="RFID-BROKE"))).id_tag_info["status"] == "Blocked"


def test_a_whole_session_is_recorded_with_its_meter_values(session, ingest, gateway, clients):
    _charger_with_password(session, "OCPP-3")
    _customer_with_tag(session, "RFID-SESSION", "1000.00")
    cp = clients.connect(gateway.url, "OCPP-3")
    clients.run(cp.call(call.BootNotification(charge_point_model="AC Max", charge_point_vendor="Delta")))
    started = clients.run(cp.call(call.StartTransaction(
        connector_id=1, id_tag="RFID-SESSION", meter_start=120000, timestamp="2026-12-01T08:00:00Z")))
    assert started.id_tag_info["status"] == "Accepted"
    tx = started.transaction_id
    assert session.get(OcppTransaction, tx).cid == "OCPP-3"  # issued by the database
    clients.run(cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")))
    clients.run(cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
        "timestamp": "2026-12-01T08:10:00Z", "sampledValue": [
            {"value": "121500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
        ]}])))

    def live():
        s = session.scalar(select(ChargingSession).where(ChargingSession.transaction_id == tx))
        return s if s is not None and s.meter_last == 121500 else None

    live_session = wait_for(session, live)
    assert live_session and live_session.status == "Active" and live_session.power_kw == pytest.approx(7.2)
    stopped = clients.run(cp.call(call.StopTransaction(
        meter_stop=127400, timestamp="2026-12-01T08:45:00Z", transaction_id=tx, id_tag="RFID-SESSION", reason="Local")))
    assert stopped.id_tag_info["status"] == "Accepted"

    def done():
        s = session.scalar(select(ChargingSession).where(ChargingSession.transaction_id == tx))
        return s if s is not None and s.status == "Completed" else None

    finished = wait_for(session, done)
    assert finished, "the session never completed"
    assert finished.energy_kwh == pytest.approx(7.4) and finished.id_tag == "RFID-SESSION"
    assert finished.stop_reason == "Local" and finished.meter_start == 120000 and finished.meter_stop == 127400
    # a second start gets the next id: ids come from one sequence for every gateway
    again = clients.run(cp.call(call.StartTransaction(
        connector_id=2, id_tag="RFID-SESSION", meter_start=0, timestamp="2026-12-01T09:00:00Z")))
    assert again.transaction_id > tx


def test_reset_from_the_api_reaches_on_reset_and_ends_accepted(session, api_as, ingest, gateway, clients):
    _charger_with_password(session, "OCPP-4")
    cp = clients.connect(gateway.url, "OCPP-4")
    clients.run(cp.call(call.BootNotification(charge_point_model="S", charge_point_vendor="Kempower")))
    assert wait_for(session, lambda: session.scalar(
        select(ChargerOcppLink.connected).join(Charger).where(Charger.cid == "OCPP-4")))
    assert _wait_online(session, "OCPP-4")
    sent = api_as("cpo").post("/api/v1/chargers/OCPP-4/commands", json={"action": "Reset", "payload": {"type": "Hard"}})
    assert sent.status_code == 202, sent.json
    command_id = sent.json["command_id"]
    status = lambda: session.scalar(select(ChargerCommand.status).where(ChargerCommand.command_id == command_id))  # noqa: E731
    assert wait_for(session, lambda: status() == "Accepted", timeout=20), status()
    assert cp.resets == ["Hard"]
    result = session.scalar(select(ChargerCommand.result).where(ChargerCommand.command_id == command_id))
    assert json.loads(result) == {"status": "Accepted"}


def test_a_command_to_a_disconnected_charger_is_answered_at_once(session, api_as, ingest, gateway):
    _charger_with_password(session, "OCPP-5")  # has an OCPP account, but no socket on any gateway
    # seen a moment ago: an Offline charger's command is refused by the API before any gateway hears of it
    session.execute(update(Charger).where(Charger.cid == "OCPP-5").values(
        last_seen=utcnow(), offline_after=utcnow() + timedelta(minutes=5)))
    session.commit()
    sent = api_as("cpo").post("/api/v1/chargers/OCPP-5/commands", json={"action": "Reset", "payload": {"type": "Soft"}})
    command_id = sent.json["command_id"]
    status = lambda: session.scalar(select(ChargerCommand.status).where(ChargerCommand.command_id == command_id))  # noqa: E731
    assert wait_for(session, lambda: status() == "NotConnected", timeout=20), status()
    command = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == command_id))
    assert command.late is False and "not connected" in json.loads(command.result)["reason"]


def test_wrong_password_and_unknown_identity_are_refused_at_the_handshake(session, gateway, clients):
    _charger_with_password(session, "OCPP-6")
    for cid, password in (("OCPP-6", "not-the-right-password"), ("NOBODY-7", PASSWORD)):
        with pytest.raises(InvalidStatus) as refused:
            clients.connect(gateway.url, cid, password)
        assert refused.value.response.status_code == 401
    assert gateway.chargers == {}


def test_auto_registration_keeps_an_unknown_charger_pending(app, session):
    gw = Gateway(app, host="127.0.0.1", port=0, node=f"test-gw-{uuid.uuid4().hex[:6]}", auto_register=True).start()
    loop = ClientLoop()
    try:
        async def boot():
            async with websockets.connect(gw.url + "NEW-1", subprotocols=["ocpp1.6"],
                                          additional_headers=basic("NEW-1", PASSWORD)) as ws:
                cp = OffTheShelfCharger("NEW-1", ws)
                task = asyncio.get_running_loop().create_task(cp.start())
                answer = await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="Y"))
                task.cancel()
                return answer

        assert loop.run(boot()).status == "Pending"
        charger = session.scalar(select(Charger).where(Charger.cid == "NEW-1"))
        assert charger.unregistered is True
        session.rollback()
        assert loop.run(boot()).status == "Pending"  # the first password is kept: the same one gets in again
    finally:
        loop.close()
        gw.stop()


def test_a_garbage_frame_gets_a_callerror_and_the_socket_stays_up(session, gateway, clients):
    _charger_with_password(session, "OCPP-8")

    async def talk():
        async with websockets.connect(gateway.url + "OCPP-8", subprotocols=["ocpp1.6"],
                                      additional_headers=basic("OCPP-8", PASSWORD)) as ws:
            await ws.send("this is not OCPP")
            garbage = json.loads(await ws.recv())
            await ws.send(json.dumps([2, "call-with-a-bad-payload", "Heartbeat", "not an object"]))
            bad_payload = json.loads(await ws.recv())
            await ws.send(json.dumps([2, "hb-after-garbage-000001", "Heartbeat", {}]))
            heartbeat = json.loads(await ws.recv())
            return garbage, bad_payload, heartbeat

    garbage, bad_payload, heartbeat = clients.run(talk())
    assert garbage[0] == 4 and garbage[1] == "-1" and garbage[2] == "FormatViolation"
    assert bad_payload[0] == 4 and bad_payload[1] == "call-with-a-bad-payload"
    assert heartbeat[0] == 3 and heartbeat[1] == "hb-after-garbage-000001" and heartbeat[2]["currentTime"]


def test_ocpp_password_api(session, api_as):
    session.add(Charger(cid="OCPP-9", name="Charger 9", type="L3"))
    session.commit()
    assert api_as("cpo").put("/api/v1/chargers/OCPP-9/ocpp-password", json={"password": "short"}).status_code == 400
    assert api_as("manager").put("/api/v1/chargers/OCPP-9/ocpp-password", json={"password": PASSWORD}).status_code == 403
    assert api_as("cpo").put("/api/v1/chargers/NOPE/ocpp-password", json={"password": PASSWORD}).status_code == 404
    response = api_as("admin").put("/api/v1/chargers/OCPP-9/ocpp-password", json={"password": PASSWORD})
    assert response.status_code == 204
    link = session.scalar(select(ChargerOcppLink).join(Charger).where(Charger.cid == "OCPP-9"))
    assert PASSWORD not in link.password_hash and chargers_ocpp.password_matches(link.password_hash, PASSWORD)
    assert "password" not in json.dumps(api_as("admin").get("/api/v1/network/chargers/OCPP-9").json["ocpp"]).replace("password_set", "")


def test_the_simulated_fleet_speaks_ocpp_through_the_gateway(app, session, api_as, ingest, gateway, clients):
    from app.demo.chargers import give_ocpp_passwords
    from app.ocpp.simulator import OcppFleet

    for cid in ("LK-SIM-01", "LK-SIM-02"):
        session.add(Charger(cid=cid, name=cid, type="L2", heartbeat_interval=60))
    session.commit()
    give_ocpp_passwords(session)
    session.commit()
    fleet = OcppFleet(gateway.url, ["LK-SIM-01", "LK-SIM-02"], lambda cid: app.config["OCPP_DEMO_PASSWORD"],
                      lively=False, seed=3)
    running = asyncio.run_coroutine_threadsafe(fleet.main(), clients.loop)
    try:
        api = api_as("dispatcher")
        assert wait_for(session, lambda: all(
            api.get(f"/api/v1/network/chargers/{cid}").json["bucket"] == "Available" for cid in ("LK-SIM-01", "LK-SIM-02")),
            timeout=30)
        command_id = api.post("/api/v1/chargers/LK-SIM-02/commands",
                              json={"action": "GetDiagnostics", "payload": {"location": "ftp://diag.example/"}}).json["command_id"]
        assert wait_for(session, lambda: session.scalar(select(Charger.diagnostics_status).where(Charger.cid == "LK-SIM-02")) == "Uploaded",
                        timeout=30)
        command = session.scalar(select(ChargerCommand).where(ChargerCommand.command_id == command_id))
        assert command.status == "Accepted" and json.loads(command.result) == {"fileName": "diagnostics-LK-SIM-02.zip"}
    finally:
        running.cancel()
        clients.run(asyncio.sleep(1.0))  # let the chargers close their sockets before the loop stops


def test_two_gateways_a_command_reaches_only_the_one_holding_the_socket(app, session, api_as, ingest, gateway, clients):
    from app.models.chargers import ChargerMessage

    other = Gateway(app, host="127.0.0.1", port=0, node=f"test-gw-b-{uuid.uuid4().hex[:6]}").start()
    try:
        _charger_with_password(session, "OCPP-10")
        cp = clients.connect(other.url, "OCPP-10")  # the load balancer sent it to the second gateway
        clients.run(cp.call(call.BootNotification(charge_point_model="S", charge_point_vendor="Kempower")))
        assert wait_for(session, lambda: session.scalar(
            select(ChargerOcppLink.gateway_node).join(Charger).where(Charger.cid == "OCPP-10", ChargerOcppLink.connected)) == other.node)
        assert _wait_online(session, "OCPP-10")
        ids = []
        for _ in range(4):  # the shared subscription spreads them over both gateways
            command_id = api_as("cpo").post("/api/v1/chargers/OCPP-10/commands",
                                            json={"action": "Reset", "payload": {"type": "Soft"}}).json["command_id"]
            assert wait_for(session, lambda: session.scalar(
                select(ChargerCommand.status).where(ChargerCommand.command_id == command_id)) == "Accepted", timeout=20)
            ids.append(command_id)
        assert cp.resets == ["Soft"] * 4
        assert gateway.stats["commands"] == 0 and gateway.stats["commands_not_connected"] == 0
        results = session.scalars(select(ChargerMessage.msg_id).where(ChargerMessage.action == "CommandResult")).all()
        assert sorted(results) == sorted(ids)  # one result each: nobody answered NotConnected besides
    finally:
        other.stop()
