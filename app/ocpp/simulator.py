"""`flask simulate --ocpp`: the simulated fleet as real OCPP 1.6J chargers, through the gateway.

Each charger is the `ocpp` library's ChargePoint on its own WebSocket with HTTP Basic auth: it
boots, reports its connectors, heartbeats at the interval the gateway answers, starts sessions
with customers' tags (Authorize, StartTransaction, MeterValues, StopTransaction), now and then
faults and recovers, and answers the commands ChargeOps sends (accept or reject). Whatever the
gateway refuses or drops, it reconnects with a back-off, as a real charger does.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import random
from datetime import datetime, timezone
from typing import Optional

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

log = logging.getLogger("chargeops.simulator")
logging.getLogger("chargeops.simulator.frames").setLevel(logging.WARNING)


def iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimulatedCharger(ChargePoint):
    def __init__(self, cid: str, connection, fleet: "OcppFleet"):
        super().__init__(cid, connection, response_timeout=30, logger=logging.getLogger("chargeops.simulator.frames"))
        self.fleet, self.rng = fleet, fleet.rng
        self.connectors = 2
        self.status: dict[int, str] = {}
        self.tx: dict[int, int] = {}
        self.meter_wh = self.rng.randint(0, 10 ** 6)
        self.power_w = self.rng.choice([7400, 11000, 22000])
        self.interval = 60
        self.faulted = False

    # --- what the charger sends ----------------------------------------------------------------------
    async def boot(self) -> None:
        answer = await self.call(call.BootNotification(
            charge_point_vendor="SimCharge", charge_point_model=f"SC-{self.power_w // 1000}",
            charge_point_serial_number=f"SN-{self.id}", firmware_version="1.4.2"))
        self.interval = self.fleet.heartbeat_interval or answer.interval
        for connector in range(0, self.connectors + 1):
            await self.set_status(connector, "Available")

    async def set_status(self, connector: int, status: str, error_code: str = "NoError") -> None:
        self.status[connector] = status
        await self.call(call.StatusNotification(connector_id=connector, error_code=error_code, status=status,
                                                timestamp=iso_now()))

    async def start_session(self, connector: int, id_tag: str) -> None:
        if connector in self.tx:
            return
        await self.set_status(connector, "Preparing")
        if (await self.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] != "Accepted":
            await self.set_status(connector, "Available")
            return
        started = await self.call(call.StartTransaction(connector_id=connector, id_tag=id_tag,
                                                        meter_start=self.meter_wh, timestamp=iso_now()))
        if started.id_tag_info["status"] != "Accepted":
            await self.call(call.StopTransaction(meter_stop=self.meter_wh, timestamp=iso_now(),
                                                 transaction_id=started.transaction_id, reason="DeAuthorized"))
            await self.set_status(connector, "Available")
            return
        self.tx[connector] = started.transaction_id
        await self.set_status(connector, "Charging")

    async def meter_values(self, connector: int, seconds: float = 10.0) -> None:
        power = int(self.power_w * self.rng.uniform(0.85, 1.0))
        self.meter_wh += int(power * seconds / 3600)
        await self.call(call.MeterValues(connector_id=connector, transaction_id=self.tx.get(connector), meter_value=[{
            "timestamp": iso_now(), "sampledValue": [
                {"value": str(self.meter_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": str(power), "measurand": "Power.Active.Import", "unit": "W"},
            ]}]))

    async def stop_session(self, connector: int, reason: str = "Local") -> None:
        tx = self.tx.pop(connector, None)
        if tx is None:
            return
        await self.set_status(connector, "Finishing")
        await self.call(call.StopTransaction(meter_stop=self.meter_wh, timestamp=iso_now(), transaction_id=tx, reason=reason))
        await self.set_status(connector, "Available")

    async def live(self) -> None:
        """Boot, then one second of charger life at a time."""
        await self.boot()
        loop = asyncio.get_running_loop()
        last_beat = last_meter = loop.time()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            if now - last_beat >= self.interval:
                last_beat = now
                await self.call(call.Heartbeat())
            if not self.fleet.lively:
                continue
            if self.tx and now - last_meter >= 10:
                last_meter = now
                for connector in list(self.tx):
                    await self.meter_values(connector)
            roll = self.rng.random()
            if self.faulted:
                if roll < 0.02:
                    self.faulted = False
                    await self.set_status(1, "Available")
            elif roll < 0.0005 and 1 not in self.tx:
                self.faulted = True
                await self.set_status(1, "Faulted", self.rng.choice(["GroundFailure", "HighTemperature", "OverCurrentFailure"]))
            elif roll < 0.01 and 1 not in self.tx and self.fleet.tags:
                await self.start_session(1, self.rng.choice(self.fleet.tags))
            elif roll < 0.015 and 1 in self.tx:
                await self.stop_session(1)

    # --- what ChargeOps asks (answers now; what follows runs after the answer) --------------------------
    def _answer(self, status: str) -> str:
        return "Rejected" if self.fleet.answer == "reject" else status

    @on(Action.reset)
    def on_reset(self, type, **_):
        return call_result.Reset(status=self._answer("Accepted"))

    @after(Action.reset)
    async def after_reset(self, type, **_):
        if self.fleet.answer != "reject":
            for connector in list(self.tx):
                await self.stop_session(connector, "SoftReset" if type == "Soft" else "HardReset")
            self.faulted = False
            await self.boot()

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, connector_id=1, **_):
        free = not self.faulted and connector_id not in self.tx and connector_id <= self.connectors
        return call_result.RemoteStartTransaction(status=self._answer("Accepted" if free else "Rejected"))

    @after(Action.remote_start_transaction)
    async def after_remote_start(self, id_tag, connector_id=1, **_):
        if self.fleet.answer != "reject" and not self.faulted and connector_id not in self.tx:
            await self.start_session(connector_id, id_tag)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id, **_):
        known = transaction_id in self.tx.values()
        return call_result.RemoteStopTransaction(status=self._answer("Accepted" if known else "Rejected"))

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id, **_):
        connector = next((c for c, tx in self.tx.items() if tx == transaction_id), None)
        if self.fleet.answer != "reject" and connector is not None:
            await self.stop_session(connector, "Remote")

    @on(Action.unlock_connector)
    def on_unlock(self, connector_id, **_):
        return call_result.UnlockConnector(status="NotSupported" if self.fleet.answer == "reject" else "Unlocked")

    @on(Action.change_availability)
    def on_change_availability(self, connector_id, type, **_):
        return call_result.ChangeAvailability(status=self._answer("Accepted"))

    @after(Action.change_availability)
    async def after_change_availability(self, connector_id, type, **_):
        if self.fleet.answer != "reject":
            await self.set_status(connector_id, "Unavailable" if type == "Inoperative" else "Available")

    @on(Action.trigger_message)
    def on_trigger(self, requested_message, **_):
        return call_result.TriggerMessage(status=self._answer("Accepted"))

    @after(Action.trigger_message)
    async def after_trigger(self, requested_message, connector_id=None, **_):
        if self.fleet.answer == "reject":
            return
        if requested_message == "Heartbeat":
            await self.call(call.Heartbeat())
        elif requested_message == "BootNotification":
            await self.boot()
        elif requested_message == "StatusNotification":
            connector = connector_id or 0
            await self.set_status(connector, self.status.get(connector, "Available"))
        elif requested_message == "MeterValues":
            await self.meter_values(connector_id or 1)
        elif requested_message == "FirmwareStatusNotification":
            await self.call(call.FirmwareStatusNotification(status="Idle"))
        elif requested_message == "DiagnosticsStatusNotification":
            await self.call(call.DiagnosticsStatusNotification(status="Idle"))

    @on(Action.update_firmware)
    def on_update_firmware(self, location, retrieve_date, **_):
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, location, retrieve_date, **_):
        for status in ("Downloading", "Downloaded", "Installing", "Installed"):
            await self.call(call.FirmwareStatusNotification(status=status))

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location, **_):
        return call_result.GetDiagnostics(file_name=f"diagnostics-{self.id}.zip")

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, location, **_):
        for status in ("Uploading", "Uploaded"):
            await self.call(call.DiagnosticsStatusNotification(status=status))


class OcppFleet:
    """A fleet of SimulatedChargers on one event loop: run(duration) blocks until done (or Ctrl-C)."""

    def __init__(self, url: str, cids: list[str], password_for, answer: str = "accept",
                 heartbeat_interval: Optional[float] = None, tags: Optional[list[str]] = None,
                 seed: Optional[int] = None, lively: bool = True):
        self.url = url if url.endswith("/") else url + "/"
        self.cids, self.password_for = cids, password_for
        self.answer, self.heartbeat_interval, self.lively = answer, heartbeat_interval, lively
        self.tags = tags or []
        self.rng = random.Random(seed)
        self.connected: dict[str, SimulatedCharger] = {}

    async def _play(self, cid: str) -> None:
        auth = base64.b64encode(f"{cid}:{self.password_for(cid)}".encode()).decode()
        delay = 1.0
        await asyncio.sleep(self.rng.uniform(0, min(5.0, len(self.cids) * 0.02)))  # chargers do not all boot at once
        while True:
            try:
                async with websockets.connect(self.url + cid, subprotocols=["ocpp1.6"], compression=None,
                                              additional_headers={"Authorization": f"Basic {auth}"}) as ws:
                    charger = SimulatedCharger(cid, ws, self)
                    self.connected[cid] = charger
                    delay = 1.0
                    reader = asyncio.get_running_loop().create_task(charger.start())
                    try:
                        await asyncio.gather(reader, charger.live())
                    finally:
                        reader.cancel()
                        self.connected.pop(cid, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, gateway down, connection lost: like a charger, try again later
                log.info("simulator: %s: %s; reconnecting in %.0f s", cid, exc, delay)
            await asyncio.sleep(delay + self.rng.uniform(0, 1))
            delay = min(delay * 2, 30.0)

    async def main(self, duration: Optional[float] = None) -> None:
        tasks = [asyncio.create_task(self._play(cid)) for cid in self.cids]
        try:
            if duration:
                await asyncio.sleep(duration)
            else:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def run(self, duration: Optional[float] = None) -> None:
        try:
            asyncio.run(self.main(duration))
        except KeyboardInterrupt:
            pass
