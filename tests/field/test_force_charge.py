"""Force charge through the simulator on the real Mosquitto, the real ingest and a real Celery worker:
it stops by itself at the amount or the time, charges the final meter reading once, holds the money so
two cannot spend it, and a refused start gives the money back."""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from app.models.base import utcnow
from app.models.chargers import ChargerCommand, ChargerMessage, ChargingSession, Connector
from app.models.customers import CHARGE, Wallet, WalletEntry
from app.models.field import ForceCharge, WalletHold
from app.services import chargers_commands
from app.services.customers_wallet import wallets_out_of_balance
from app.services.field_force_charge import check_force_charges, cost_of
from tests.conftest import PASSWORD
from tests.field.conftest import wait_for


def _boot(session, fleet, cid, answer="accept"):
    f = fleet([cid], answer=answer, boot=True)
    assert wait_for(session, lambda: session.scalar(select(func.count()).select_from(Connector).where(
        Connector.status == "Available")) == 3, timeout=30), "the charger's boot did not arrive"
    return f


def _fc(session, pk):
    return session.get(ForceCharge, pk, populate_existing=True)


def _wallet(session, customer):
    return session.scalar(select(Wallet).where(Wallet.customer_id == customer.id).execution_options(populate_existing=True))


def test_amount_mode_stops_by_itself_at_the_amount_and_charges_the_metered_amount_once(
        session, api_as, make_charger, make_customer, ingest, fleet, celery_worker, tariff_100):
    make_charger("FC-1")
    customer = make_customer(tag="RFID-FC1", balance="1000.00")
    f = _boot(session, fleet, "FC-1")
    started = api_as("agent").post("/api/v1/chargers/FC-1/force-charge",
                                   json={"customer_id": customer.id, "connector_id": 1, "mode": "amount", "amount": "50.00"})
    assert started.status_code == 202, started.json
    pk = started.json["force_charge_id"]
    assert _wallet(session, customer).held == Decimal("50.00")
    assert wait_for(session, lambda: _fc(session, pk).status == "Charging", timeout=30), _fc(session, pk).failure
    start = next(c for c in f.commands_seen if c["action"] == "RemoteStartTransaction")
    assert start["payload"] == {"connectorId": 1, "idTag": "RFID-FC1"} and start["command_id"] == started.json["command_id"]
    deadline = time.monotonic() + 90
    while _fc(session, pk).status == "Charging" and time.monotonic() < deadline:
        f.meter_values("FC-1", 1, seconds=60)  # about 120-370 Wh a step
        wait_for(session, lambda: _fc(session, pk).status != "Charging", timeout=1.5)
    assert wait_for(session, lambda: _fc(session, pk).status == "Completed", timeout=30), _fc(session, pk).status
    fc = _fc(session, pk)
    assert [c["action"] for c in f.commands_seen].count("RemoteStopTransaction") == 1
    s = session.get(ChargingSession, fc.session_id)
    metered = cost_of(s.meter_stop - s.meter_start, Decimal("100.00"))
    assert fc.amount_charged == metered and metered >= Decimal("50.00") and fc.energy_wh == s.meter_stop - s.meter_start
    charges = session.scalars(select(WalletEntry).where(WalletEntry.entry_type == CHARGE)).all()
    assert [c.amount for c in charges] == [-metered] and charges[0].source_ref == f"force_charge:{pk}"
    wallet = _wallet(session, customer)
    assert wallet.balance == Decimal("1000.00") - metered and wallet.held == Decimal("0.00")
    assert session.get(WalletHold, fc.hold_id).status == "captured"
    got = api_as("agent").get(f"/api/v1/force-charges/{pk}").json
    assert got["status"] == "Completed" and got["amount_charged"] == f"{metered:.2f}" and got["stop_command_id"]
    # a late duplicate hand-over changes nothing
    check_force_charges(session)
    session.commit()
    assert session.scalar(select(func.count()).select_from(WalletEntry).where(WalletEntry.entry_type == CHARGE)) == 1
    assert wallets_out_of_balance(session) == []


def test_time_mode_stops_at_the_time(session, api_as, make_charger, make_customer, ingest, fleet, celery_worker, tariff_100):
    make_charger("FC-2")
    customer = make_customer(tag="RFID-FC2", balance="800.00")
    f = _boot(session, fleet, "FC-2")
    started = api_as("dispatcher").post("/api/v1/chargers/FC-2/force-charge",
                                        json={"customer_id": customer.id, "connector_id": 2, "mode": "time", "minutes": 1})
    assert started.status_code == 202, started.json
    pk = started.json["force_charge_id"]
    assert _wallet(session, customer).held == Decimal("500.00")  # FORCE_CHARGE_MIN_BALANCE
    assert wait_for(session, lambda: _fc(session, pk).status == "Charging", timeout=30)
    f.meter_values("FC-2", 2, seconds=30)
    # the beat's check, before and after the minute has passed
    assert check_force_charges(session, now=utcnow()) == []
    session.commit()
    to_publish = check_force_charges(session, now=_fc(session, pk).stop_at + timedelta(seconds=1))
    session.commit()
    assert len(to_publish) == 1
    for command_id in to_publish:
        chargers_commands.publish_command(command_id)
    assert wait_for(session, lambda: _fc(session, pk).status == "Completed", timeout=30), _fc(session, pk).status
    fc = _fc(session, pk)
    s = session.get(ChargingSession, fc.session_id)
    assert s.stop_reason == "Remote" and fc.amount_charged == cost_of(s.meter_stop - s.meter_start, Decimal("100.00"))
    assert _wallet(session, customer).balance == Decimal("800.00") - fc.amount_charged
    assert _wallet(session, customer).held == Decimal("0.00")


def test_insufficient_balance_is_409_and_nothing_is_published(session, api_as, make_charger, make_customer, ingest, fleet):
    make_charger("FC-3")
    customer = make_customer(tag="RFID-FC3", balance="40.00")
    f = _boot(session, fleet, "FC-3")
    api = api_as("cpo")
    refused = api.post("/api/v1/chargers/FC-3/force-charge",
                       json={"customer_id": customer.id, "connector_id": 1, "mode": "amount", "amount": "50.00"})
    assert refused.status_code == 409 and "insufficient balance" in refused.json["message"]
    timed = api.post("/api/v1/chargers/FC-3/force-charge",
                     json={"customer_id": customer.id, "connector_id": 1, "mode": "time", "minutes": 30})
    assert timed.status_code == 409  # below FORCE_CHARGE_MIN_BALANCE
    assert api.post("/api/v1/chargers/FC-3/force-charge",
                    json={"customer_id": customer.id, "connector_id": 1, "mode": "amount", "amount": "1.005"}).status_code == 400
    assert api.post("/api/v1/chargers/FC-3/force-charge",
                    json={"customer_id": customer.id, "connector_id": 7, "mode": "amount", "amount": "10"}).status_code == 409
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ChargerCommand)) == 0
    assert session.scalar(select(func.count()).select_from(ChargerMessage).where(ChargerMessage.direction == "out")) == 0
    assert session.scalar(select(func.count()).select_from(ForceCharge)) == 0
    assert _wallet(session, customer).held == Decimal("0.00")
    assert f.commands_seen == []
    assert api_as("finance").post("/api/v1/chargers/FC-3/force-charge", json={}).status_code == 403


def _post(url, body, token):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_two_concurrent_force_charges_against_one_balance_cannot_both_start(session, live_server, make_charger, make_customer):
    make_charger("FC-4A", online=True)
    make_charger("FC-4B", online=True)
    customer = make_customer(tag="RFID-FC4", balance="100.00")
    customer_id = customer.id  # read here: the threads have no app context
    status, body = _post(f"{live_server.url}/api/v1/security/login", {"username": "agent", "password": PASSWORD, "provider": "db"}, "")
    token = body["access_token"]
    barrier = threading.Barrier(2)
    results = []

    def start(cid):
        barrier.wait(timeout=30)
        results.append(_post(f"{live_server.url}/api/v1/chargers/{cid}/force-charge",
                             {"customer_id": customer_id, "connector_id": 1, "mode": "amount", "amount": "80.00"}, token))

    threads = [threading.Thread(target=start, args=(cid,)) for cid in ("FC-4A", "FC-4B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert sorted(code for code, _ in results) == [202, 409], results
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ForceCharge)) == 1
    assert session.scalar(select(func.count()).select_from(ChargerCommand)) == 1
    assert _wallet(session, customer).held == Decimal("80.00") and _wallet(session, customer).balance == Decimal("100.00")


def test_a_refused_start_releases_the_hold(session, api_as, make_charger, make_customer, ingest, fleet, celery_worker):
    make_charger("FC-5")
    customer = make_customer(tag="RFID-FC5", balance="300.00")
    _boot(session, fleet, "FC-5", answer="reject")
    started = api_as("installer").post("/api/v1/chargers/FC-5/force-charge",
                                       json={"customer_id": customer.id, "connector_id": 1, "mode": "amount", "amount": "120"})
    assert started.status_code == 202
    pk = started.json["force_charge_id"]
    assert wait_for(session, lambda: _fc(session, pk).status == "Failed", timeout=30)
    fc = _fc(session, pk)
    assert "Rejected" in fc.failure and session.get(WalletHold, fc.hold_id).status == "released"
    wallet = _wallet(session, customer)
    assert wallet.held == Decimal("0.00") and wallet.balance == Decimal("300.00")
    assert session.scalar(select(func.count()).select_from(WalletEntry).where(WalletEntry.entry_type == CHARGE)) == 0


def test_a_start_that_never_comes_releases_the_hold(session, api_as, make_charger, make_customer, app):
    make_charger("FC-6", online=True)
    customer = make_customer(tag="RFID-FC6", balance="300.00")
    pk = api_as("cpo").post("/api/v1/chargers/FC-6/force-charge",
                            json={"customer_id": customer.id, "connector_id": 2, "mode": "amount", "amount": "20"}).json["force_charge_id"]
    later = utcnow() + timedelta(seconds=app.config["FORCE_CHARGE_START_TIMEOUT"] + 1)
    check_force_charges(session, now=later)
    session.commit()
    assert _fc(session, pk).status == "Failed" and _wallet(session, customer).held == Decimal("0.00")
