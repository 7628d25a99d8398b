"""The OCPP rules, one Action at a time: a message in, the charger's in-memory state out (no broker, no database)."""
from __future__ import annotations

from datetime import datetime, timedelta

from app.services import ocpp_rules
from app.services.ocpp_rules import Call, ChargerState, ChargerUpdate, State

T0 = datetime(2026, 11, 21, 8, 15)


def _call(payload: dict, at: datetime = T0, ts: datetime | None = None, msg_id: str = "m1") -> Call:
    return Call(ChargerUpdate(7, "CP-7", 60), payload, at, ts=ts, msg_id=msg_id, raw="{}")


def _apply(action: str, call: Call, state: ChargerState | None = None) -> ChargerState:
    state = state if state is not None else ChargerState()
    ocpp_rules.apply(action, call, state)
    return state


def test_every_action_of_the_contract_has_a_rule_and_so_does_authorize():
    contract = {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "StartTransaction",
                "StopTransaction", "FirmwareStatusNotification", "DiagnosticsStatusNotification", "DataTransfer"}
    assert set(ocpp_rules.RULES) == contract | {"Authorize"}


def test_heartbeat_counts_at_the_charger_time():
    call = _call({}, at=T0, ts=T0 - timedelta(seconds=5))
    _apply("Heartbeat", call)
    assert call.charger.beats == [T0 - timedelta(seconds=5)]
    assert call.flags == []


def test_boot_notification_records_the_identity_and_restarts_the_heartbeat_clock():
    call = _call({"chargePointVendor": "ABB", "chargePointModel": "Terra AC", "firmwareVersion": "1.2.3",
                  "chargeBoxSerialNumber": "SN-1"})
    call.charger.beats.append(T0 - timedelta(minutes=1))
    _apply("BootNotification", call)
    assert call.charger.values == {"vendor": "ABB", "model": "Terra AC", "firmware_version": "1.2.3",
                                   "serial": "SN-1", "booted_at": T0}
    assert call.charger.boot_at == T0 and call.charger.beats == []


def test_a_boot_then_heartbeats_measure_the_gap_from_the_boot():
    charger = ChargerUpdate(7, "CP-7", 60)
    state = ChargerState()
    for action, at in (("BootNotification", T0), ("Heartbeat", T0 + timedelta(seconds=60)),
                       ("Heartbeat", T0 + timedelta(seconds=150))):
        ocpp_rules.apply(action, Call(charger, {}, at), state)
    assert charger.heartbeat_columns() == (None, None)
    assert charger.values["last_heartbeat_at"] == T0 + timedelta(seconds=150)
    assert charger.values["last_heartbeat_gap"] == 90.0


def test_status_notification_sets_the_connector_and_opens_a_fault():
    state = _apply("StatusNotification", _call({"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure",
                                                "vendorErrorCode": "E12"}))
    connector = state.connectors[(7, 1)]
    assert (connector.status, connector.error_code, connector.vendor_error_code, connector.updated_at) == (
        "Faulted", "GroundFailure", "E12", T0)
    [fault] = state.added
    assert (fault.error_code, fault.occurrences, fault.first_seen, fault.nonstandard) == ("GroundFailure", 1, T0, False)
    assert ocpp_rules.faulted(state.connectors.values()) == {7: "connector 1: Faulted GroundFailure"}


def test_a_repeated_fault_counts_and_available_clears_it():
    state = _apply("StatusNotification", _call({"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"}))
    _apply("StatusNotification", _call({"connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"},
                                       at=T0 + timedelta(minutes=1)), state)
    [fault] = state.added
    assert (fault.occurrences, fault.last_seen) == (2, T0 + timedelta(minutes=1))
    _apply("StatusNotification", _call({"connectorId": 1, "status": "Available", "errorCode": "NoError"},
                                       at=T0 + timedelta(minutes=2)), state)
    assert fault.cleared_at == T0 + timedelta(minutes=2)
    assert state.open_faults[(7, 1)] == [] and ocpp_rules.faulted(state.connectors.values()) == {}


def test_a_late_older_status_does_not_overwrite_a_newer_one():
    stored = State(id=1, charger_id=7, connector_id=1, status="Charging", error_code="NoError",
                   vendor_error_code=None, info=None, updated_at=T0)
    state = ChargerState(connectors={(7, 1): stored})
    _apply("StatusNotification", _call({"connectorId": 1, "status": "Available", "errorCode": "NoError"},
                                       at=T0 + timedelta(seconds=1), ts=T0 - timedelta(minutes=5)), state)
    assert stored.status == "Charging"


def test_unknown_status_values_are_kept_and_flagged():
    call = _call({"connectorId": 2, "status": "Melting", "errorCode": "Lava"})
    state = _apply("StatusNotification", call)
    assert state.connectors[(7, 2)].status == "Melting"
    assert call.flags == ["unknown status 'Melting'", "unknown errorCode 'Lava'"]
    [fault] = state.added  # an unknown error code is still a fault
    assert fault.nonstandard is True


def test_status_without_a_connector_is_flagged_and_changes_nothing():
    call = _call({"status": "Available", "errorCode": "NoError"})
    state = _apply("StatusNotification", call)
    assert state.connectors == {} and call.flags == ["StatusNotification without a valid connectorId"]


def test_start_transaction_opens_a_session_once():
    payload = {"connectorId": 1, "idTag": "TAG-1", "meterStart": 1200, "transactionId": 55,
               "timestamp": "2026-11-21T08:10:00Z"}
    state = _apply("StartTransaction", _call(payload))
    _apply("StartTransaction", _call(payload, msg_id="m2"), state)
    [s] = state.added
    assert (s.charger_id, s.transaction_id, s.connector_id, s.id_tag, s.meter_start, s.status, s.started_at) == (
        7, 55, 1, "TAG-1", 1200, "Active", datetime(2026, 11, 21, 8, 10))
    assert state.sessions[(7, 55)] is s


def test_start_transaction_without_an_id_gets_a_stable_one_and_a_flag():
    first, again = _call({"connectorId": 1}, msg_id="same"), _call({"connectorId": 1}, msg_id="same")
    one, two = _apply("StartTransaction", first), _apply("StartTransaction", again)
    assert one.added[0].transaction_id == two.added[0].transaction_id
    assert first.flags == ["no transactionId: derived from msg_id"]


def test_meter_values_update_energy_and_power_of_the_session():
    state = _apply("StartTransaction", _call({"connectorId": 1, "meterStart": 1000, "transactionId": 9}))
    _apply("MeterValues", _call({"connectorId": 1, "transactionId": 9, "meterValue": [{"sampledValue": [
        {"measurand": "Energy.Active.Import.Register", "value": "3.5", "unit": "kWh"},
        {"measurand": "Power.Active.Import", "value": "7200", "unit": "W"},
    ]}]}, at=T0 + timedelta(minutes=10)), state)
    s = state.sessions[(7, 9)]
    assert (s.meter_last, s.energy_kwh, s.power_kw, s.updated_at) == (3500, 2.5, 7.2, T0 + timedelta(minutes=10))


def test_meter_values_for_an_unknown_transaction_are_flagged():
    call = _call({"connectorId": 1, "transactionId": 404, "meterValue": []})
    _apply("MeterValues", call)
    assert call.flags == ["MeterValues for an unknown transaction"]


def test_stop_transaction_completes_the_session():
    state = _apply("StartTransaction", _call({"connectorId": 1, "meterStart": 1000, "transactionId": 9}))
    _apply("StopTransaction", _call({"transactionId": 9, "meterStop": 12000, "reason": "EVDisconnected",
                                     "timestamp": "2026-11-21T09:00:00Z"}), state)
    s = state.sessions[(7, 9)]
    assert (s.status, s.meter_stop, s.energy_kwh, s.power_kw, s.stop_reason, s.stopped_at) == (
        "Completed", 12000, 11.0, 0.0, "EVDisconnected", datetime(2026, 11, 21, 9, 0))


def test_stop_transaction_for_an_unknown_transaction_is_flagged():
    call = _call({"transactionId": 1})
    _apply("StopTransaction", call)
    assert call.flags == ["StopTransaction for an unknown transaction"]


def test_firmware_and_diagnostics_status_land_on_the_charger():
    call = _call({"status": "Installing"})
    _apply("FirmwareStatusNotification", call)
    assert call.charger.values == {"firmware_status": "Installing", "firmware_status_at": T0}
    call = _call({"status": "Uploaded"})
    _apply("DiagnosticsStatusNotification", call)
    assert call.charger.values == {"diagnostics_status": "Uploaded", "diagnostics_status_at": T0}


def test_authorize_and_data_transfer_are_recorded_without_a_state_change():
    for action, payload in (("Authorize", {"idTag": "TAG-1"}), ("DataTransfer", {"vendorId": "acme"})):
        call = _call(payload)
        state = _apply(action, call)
        assert call.flags == [] and call.charger.values == {} and call.charger.beats == []
        assert (state.connectors, state.sessions, state.added) == ({}, {}, [])


def test_an_action_without_a_rule_changes_nothing():
    call = _call({"x": 1})
    state = _apply("CancelReservation", call)
    assert call.charger.values == {} and state.added == []
