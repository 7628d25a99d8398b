"""A simulated fleet that speaks the MQTT contract: boots, heartbeats, status changes, sessions
with meter values, faults and recoveries, weak signal, going silent, and answers commands.

One paho client carries the whole fleet (a gateway does the same for real chargers).
`answer` decides how commands are answered: "accept" (act as a charger would), "reject",
or "silent" (no result, to exercise time-outs). Tests run it in-process: start(), drive it
with the publish helpers, stop().
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

import paho.mqtt.client as mqtt

from app.integrations.mqtt import make_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("chargeops.simulator")


def iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class SimCharger:
    cid: str
    connectors: int = 2
    power_kw: float = 7.4
    status: dict = field(default_factory=dict)  # connector -> status
    tx: dict = field(default_factory=dict)  # connector -> transaction id
    meter_wh: int = 0
    faulted: bool = False
    silent_until: float = 0.0
    rssi: int = -65
    last_heartbeat: float = 0.0
    last_meter: float = 0.0
    last_telemetry: float = 0.0
    firmware_version: str = "1.4.2"


class Fleet:
    def __init__(self, url: str, prefix: str, cids: list[str], answer: str = "accept",
                 heartbeat_interval: float = 30.0, client_id: Optional[str] = None, seed: Optional[int] = None,
                 lively: bool = True, answer_delay: float = 0.0, session_expiry: int = 0,
                 firmware_failures: Optional[dict] = None, firmware_failure_rate: float = 0.0,
                 firmware_step_s: float = 0.3):
        self.url, self.prefix, self.answer = url, prefix, answer
        self.session_expiry = session_expiry  # > 0: the broker keeps our subscription and queues commands meanwhile
        self.heartbeat_interval = heartbeat_interval
        self.lively = lively  # random sessions/faults/silence; False: only what tests drive
        self.answer_delay = answer_delay
        self.firmware_failures = {cid: list(outcomes) for cid, outcomes in (firmware_failures or {}).items()}
        self.firmware_failure_rate = firmware_failure_rate
        self.firmware_step_s = firmware_step_s
        self.reachable_hosts = {"127.0.0.1", "localhost", "::1"}
        self.rng = random.Random(seed)
        self.chargers = {
            cid: SimCharger(cid, power_kw=self.rng.choice([7.4, 11.0, 22.0]), meter_wh=self.rng.randint(0, 10**6))
            for cid in cids
        }
        self.client, self.address = make_client(url, client_id or f"sim-{uuid.uuid4().hex[:10]}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.ready = threading.Event()
        self.commands_seen: list[dict] = []
        self._tx_seq = int(time.time()) % 100000 * 1000 + self.rng.randint(0, 999)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    # --- wire ------------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason, properties):
        if not reason.is_failure:
            client.subscribe(f"{self.prefix}/chargers/+/cmd/+", qos=1)
            self.ready.set()

    def publish(self, topic: str, body: dict) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, json.dumps(body), qos=1)

    def ocpp(self, cid: str, action: str, payload: dict, msg_id: Optional[str] = None) -> str:
        msg_id = msg_id or uuid.uuid4().hex[:16]
        self.publish(f"{self.prefix}/chargers/{cid}/ocpp/{action}", {"ts": iso_now(), "msg_id": msg_id, "payload": payload})
        return msg_id

    def telemetry(self, cid: str, rssi_dbm: Optional[int] = None, temperature_c: Optional[float] = None) -> None:
        body = {"ts": iso_now()}
        if rssi_dbm is not None:
            body["rssi_dbm"] = rssi_dbm
        if temperature_c is not None:
            body["temperature_c"] = temperature_c
        self.publish(f"{self.prefix}/chargers/{cid}/telemetry", body)

    # --- charger behaviour ---------------------------------------------------------------------
    def boot(self, cid: str) -> None:
        ch = self.chargers[cid]
        self.ocpp(cid, "BootNotification", {
            "chargePointVendor": "SimCharge", "chargePointModel": f"SC-{int(ch.power_kw)}",
            "chargePointSerialNumber": f"SN-{cid}", "firmwareVersion": ch.firmware_version,
        })
        ch.last_heartbeat = time.monotonic()
        for connector in range(0, ch.connectors + 1):
            self.set_status(cid, connector, "Available")

    def set_status(self, cid: str, connector: int, status: str, error_code: str = "NoError", **extra) -> str:
        self.chargers[cid].status[connector] = status
        return self.ocpp(cid, "StatusNotification", {
            "connectorId": connector, "status": status, "errorCode": error_code, "timestamp": iso_now(), **extra,
        })

    def heartbeat(self, cid: str) -> str:
        self.chargers[cid].last_heartbeat = time.monotonic()
        return self.ocpp(cid, "Heartbeat", {})

    def start_session(self, cid: str, connector: int = 1, id_tag: str = "APP-1001") -> int:
        ch = self.chargers[cid]
        with self._lock:
            self._tx_seq += 1
            tx = self._tx_seq
        ch.tx[connector] = tx
        self.set_status(cid, connector, "Preparing")
        self.ocpp(cid, "StartTransaction", {
            "connectorId": connector, "idTag": id_tag, "meterStart": ch.meter_wh, "timestamp": iso_now(),
            "transactionId": tx,  # the id the gateway answered with in StartTransaction.conf
        })
        self.set_status(cid, connector, "Charging")
        return tx

    def meter_values(self, cid: str, connector: int = 1, seconds: float = 10.0) -> None:
        ch = self.chargers[cid]
        power_w = int(ch.power_kw * 1000 * self.rng.uniform(0.85, 1.0))
        ch.meter_wh += int(power_w * seconds / 3600)
        payload = {
            "connectorId": connector,
            "meterValue": [{"timestamp": iso_now(), "sampledValue": [
                {"value": str(ch.meter_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
            ]}],
        }
        if connector in ch.tx:
            payload["transactionId"] = ch.tx[connector]
        self.ocpp(cid, "MeterValues", payload)

    def stop_session(self, cid: str, connector: int = 1, reason: str = "Local") -> Optional[int]:
        ch = self.chargers[cid]
        tx = ch.tx.pop(connector, None)
        if tx is None:
            return None
        self.set_status(cid, connector, "Finishing")
        self.ocpp(cid, "StopTransaction", {
            "transactionId": tx, "meterStop": ch.meter_wh, "timestamp": iso_now(), "reason": reason,
        })
        self.set_status(cid, connector, "Available")
        return tx

    def fault(self, cid: str, connector: int = 1, error_code: str = "GroundFailure") -> None:
        self.chargers[cid].faulted = True
        self.set_status(cid, connector, "Faulted", error_code, vendorErrorCode="E42")

    def recover(self, cid: str, connector: int = 1) -> None:
        self.chargers[cid].faulted = False
        self.set_status(cid, connector, "Available")

    # --- commands -------------------------------------------------------------------------------
    def _on_message(self, client, userdata, message):
        parts = message.topic.split("/")
        try:
            cid, command_id = parts[-3], parts[-1]
            body = json.loads(message.payload)
        except (IndexError, ValueError):
            return
        if cid not in self.chargers:
            return
        self.commands_seen.append({"cid": cid, "command_id": command_id, **body})
        if self.answer == "silent" or self.chargers[cid].silent_until > time.monotonic():
            return
        if self.answer_delay:
            time.sleep(self.answer_delay)
        status, conf, follow_up = self._handle(cid, body.get("action"), body.get("payload") or {})
        if self.answer == "reject":
            status, conf, follow_up = "Rejected", {"status": "Rejected"}, None
        self.publish(f"{self.prefix}/chargers/{cid}/cmd/{command_id}/result", {"ts": iso_now(), "status": status, "payload": conf})
        if follow_up:
            follow_up()

    def _handle(self, cid: str, action: str, p: dict):
        ch = self.chargers[cid]
        if action == "Reset":
            def reboot():
                for connector in list(ch.tx):
                    self.stop_session(cid, connector, reason="SoftReset" if p.get("type") == "Soft" else "HardReset")
                ch.faulted = False
                self.boot(cid)
            return "Accepted", {"status": "Accepted"}, reboot
        if action == "RemoteStartTransaction":
            connector = p.get("connectorId", 1)
            if ch.faulted or connector in ch.tx or connector > ch.connectors:
                return "Rejected", {"status": "Rejected"}, None
            return "Accepted", {"status": "Accepted"}, lambda: self.start_session(cid, connector, p.get("idTag", "REMOTE"))
        if action == "RemoteStopTransaction":
            connector = next((c for c, tx in ch.tx.items() if tx == p.get("transactionId")), None)
            if connector is None:
                return "Rejected", {"status": "Rejected"}, None
            return "Accepted", {"status": "Accepted"}, lambda: self.stop_session(cid, connector, "Remote")
        if action == "UnlockConnector":
            return "Unlocked", {"status": "Unlocked"}, None
        if action == "ChangeAvailability":
            status = "Unavailable" if p.get("type") == "Inoperative" else "Available"
            return "Accepted", {"status": "Accepted"}, lambda: self.set_status(cid, p.get("connectorId", 0), status)
        if action == "TriggerMessage":
            wanted = p.get("requestedMessage")
            triggers = {
                "Heartbeat": lambda: self.heartbeat(cid),
                "BootNotification": lambda: self.boot(cid),
                "StatusNotification": lambda: self.set_status(cid, p.get("connectorId", 0), ch.status.get(p.get("connectorId", 0), "Available")),
                "MeterValues": lambda: self.meter_values(cid, p.get("connectorId", 1)),
                "FirmwareStatusNotification": lambda: self.ocpp(cid, "FirmwareStatusNotification", {"status": "Idle"}),
                "DiagnosticsStatusNotification": lambda: self.ocpp(cid, "DiagnosticsStatusNotification", {"status": "Idle"}),
            }
            if wanted not in triggers:
                return "NotImplemented", {"status": "NotImplemented"}, None
            return "Accepted", {"status": "Accepted"}, triggers[wanted]
        if action == "UpdateFirmware":
            # the download and install take a while: in a thread, so the MQTT loop keeps answering
            def install():
                threading.Thread(target=self.update_firmware, args=(cid, p.get("location", "")),
                                 name=f"firmware-{cid}", daemon=True).start()
            return "Accepted", {}, install
        if action == "GetDiagnostics":
            name = f"diagnostics-{cid}.zip"

            def upload():
                self.ocpp(cid, "DiagnosticsStatusNotification", {"status": "Uploading"})
                location, status = p.get("location", ""), "Uploaded"
                if self._reachable(location):  # an HTTP location it can reach: PUT the file there
                    body = f"simulated diagnostics of {cid} at {iso_now()}\n".encode() * 50
                    request = urllib.request.Request(f"{location.rstrip('/')}/{name}", data=body, method="PUT",
                                                     headers={"Content-Type": "application/octet-stream"})
                    try:
                        urllib.request.urlopen(request, timeout=30).close()
                    except (OSError, ValueError):
                        status = "UploadFailed"
                self.ocpp(cid, "DiagnosticsStatusNotification", {"status": status})
            # the upload runs beside the MQTT loop, as the firmware download does
            return "Accepted", {"fileName": name}, lambda: threading.Thread(target=upload, daemon=True).start()
        return "NotSupported", {"status": "NotSupported"}, None

    def _reachable(self, location: str) -> bool:
        """The simulated chargers sit on a network that reaches only `reachable_hosts` (ChargeOps on this
        machine by default); any other location is played as if the transfer worked."""
        parsed = urllib.parse.urlparse(location)
        return parsed.scheme in ("http", "https") and parsed.hostname in self.reachable_hosts

    def update_firmware(self, cid: str, location: str) -> None:
        """UpdateFirmware as a charger does it: download (over HTTP when the location is http[s]),
        install, reboot and boot with the new version; `firmware_failures[cid]` lists the outcome of each
        attempt in turn ("DownloadFailed", "InstallationFailed" or "ok"), `firmware_failure_rate` fails at random."""
        ch = self.chargers[cid]
        planned = self.firmware_failures.get(cid) or []
        outcome = planned.pop(0) if planned else (
            "InstallationFailed" if self.rng.random() < self.firmware_failure_rate else "ok")
        step = self.firmware_step_s
        self.ocpp(cid, "FirmwareStatusNotification", {"status": "Downloading"})
        image = b""
        if outcome != "DownloadFailed" and self._reachable(location):
            try:
                with urllib.request.urlopen(location, timeout=30) as response:
                    image = response.read()
            except (OSError, ValueError):
                outcome = "DownloadFailed"
        time.sleep(step)
        if outcome == "DownloadFailed":
            self.ocpp(cid, "FirmwareStatusNotification", {"status": "DownloadFailed"})
            return
        self.ocpp(cid, "FirmwareStatusNotification", {"status": "Downloaded"})
        time.sleep(step)
        self.ocpp(cid, "FirmwareStatusNotification", {"status": "Installing"})
        time.sleep(step)
        if outcome == "InstallationFailed":
            self.ocpp(cid, "FirmwareStatusNotification", {"status": "InstallationFailed"})
            return
        self.ocpp(cid, "FirmwareStatusNotification", {"status": "Installed"})
        first = image.split(b"\n", 1)[0]
        # a simulated image says its version on its first line: "SIMFW 1.5.0"
        ch.firmware_version = first[6:].decode(errors="replace").strip() if first.startswith(b"SIMFW ") else (
            ch.firmware_version + "+1")
        time.sleep(step)
        self.boot(cid)

    # --- running -----------------------------------------------------------------------------------
    def start(self, boot: bool = True, wait: float = 10.0) -> "Fleet":
        properties = None
        if self.session_expiry:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.session_expiry
        self.client.connect(self.address.host, self.address.port, keepalive=30,
                            clean_start=not self.session_expiry, properties=properties)
        self.client.loop_start()
        self.ready.wait(wait)
        time.sleep(0.1)  # let the SUBACK land before results are expected
        if boot:
            for cid in self.chargers:
                self.boot(cid)
        return self

    def tick(self) -> None:
        """One second of fleet life."""
        now = time.monotonic()
        rng = self.rng
        for cid, ch in self.chargers.items():
            if ch.silent_until > now:
                continue
            if now - ch.last_heartbeat >= self.heartbeat_interval:
                self.heartbeat(cid)
            if not self.lively:
                continue
            if ch.tx and now - ch.last_meter >= 10:
                ch.last_meter = now
                for connector in list(ch.tx):
                    self.meter_values(cid, connector)
            if now - ch.last_telemetry >= 30:
                ch.last_telemetry = now
                ch.rssi = rng.choice([-95, -90]) if rng.random() < 0.05 else rng.randint(-80, -55)
                self.telemetry(cid, ch.rssi, round(rng.uniform(28, 48), 1))
            roll = rng.random()
            if ch.faulted:
                if roll < 0.02:
                    self.recover(cid)
            elif roll < 0.0005:
                self.fault(cid, 1, rng.choice(["GroundFailure", "HighTemperature", "OverCurrentFailure", "E-VENDOR-77"]))
            elif roll < 0.0008:
                ch.silent_until = now + rng.uniform(200, 600)  # goes quiet; the sweep marks it offline
            elif roll < 0.01 and 1 not in ch.tx:
                self.start_session(cid, 1, f"RFID-{rng.randint(1000, 9999)}")
            elif roll < 0.015 and 1 in ch.tx:
                self.stop_session(cid, 1)

    def run(self, duration: Optional[float] = None) -> None:
        end = time.monotonic() + duration if duration else None
        while not self._stop.is_set() and (end is None or time.monotonic() < end):
            self.tick()
            self._stop.wait(1.0)

    def run_in_thread(self) -> "Fleet":
        self._thread = threading.Thread(target=self.run, name="simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()
