"""OCPP gateway under 2,000 concurrent chargers, against a bare `ocpp` central system in the same run.

(1) message rate: N WebSocket chargers (a load process of raw clients, each with one CALL in flight,
    alternating Heartbeat and StatusNotification) against
      - bare:        the `ocpp` library's central system that only answers (its example, library defaults),
      - bare-inline: the same with the schema validation inline (what the gateway does),
      - gateway:     `flask ocpp-gateway` (Basic auth, MQTT publish of every CALL on the real Mosquitto),
    each in a process of its own; answered CALLs per second over a fixed window. Goal: gateway/bare >= 0.7.
(2) memory per connection: the server process's RSS after N connections minus before, divided by N.
(3) command round trip: POST /api/v1/chargers/<cid>/commands (Reset) -> gateway -> the charger answers
    -> result -> ingest -> GET /api/v1/commands/<id> final; p50/p95 with the N chargers connected.

    python bench/gateway.py [--connections 2000] [--seconds 20] [--commands 100]

Charger passwords are stored with a cheap hash here: the handshake's hash is not what is measured.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-ocpp-password-0001"
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the servers (each in its own process) ------------------------------------------------------------

def serve_bare(port: int, inline: bool) -> None:
    """examples/v16/central_system.py of the ocpp library, answering what the load sends."""
    from datetime import datetime, timezone

    import websockets
    from ocpp import messages
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.enums import Action

    messages.ASYNC_VALIDATION = not inline
    import logging
    logging.getLogger("ocpp").setLevel(logging.WARNING)

    class Bare(ChargePoint):
        @on(Action.boot_notification)
        def on_boot_notification(self, **_):
            return call_result.BootNotification(current_time=datetime.now(timezone.utc).isoformat(), interval=60,
                                                status="Accepted")

        @on(Action.heartbeat)
        def on_heartbeat(self, **_):
            return call_result.Heartbeat(current_time=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

        @on(Action.status_notification)
        def on_status_notification(self, **_):
            return call_result.StatusNotification()

    async def on_connect(ws):
        cp = Bare(ws.request.path.rsplit("/", 1)[-1], ws)
        try:
            await cp.start()
        except websockets.exceptions.ConnectionClosed:
            pass

    async def main():
        async with websockets.serve(on_connect, "127.0.0.1", port, subprotocols=["ocpp1.6"], compression=None,
                                    ping_interval=60, ping_timeout=60, backlog=4096):
            print("ready", flush=True)
            await asyncio.Future()

    asyncio.run(main())


def serve_gateway(port: int) -> None:
    import logging

    from app import create_app
    from app.ocpp.gateway import Gateway

    app = create_app({"LOG_LEVEL": "WARNING"})
    logging.getLogger("chargeops.ocpp").setLevel(logging.WARNING)
    gateway = Gateway(app, host="127.0.0.1", port=port, node=f"bench-{port}")

    async def main():
        task = asyncio.create_task(gateway.serve())
        while not gateway.ready.is_set():
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await task

    asyncio.run(main())


# --- the chargers (one process of raw WebSocket clients) -------------------------------------------------

def load(url: str, count: int, seconds: float, prefix: str) -> None:
    """Connect `count` chargers, then each keeps one CALL in flight for `seconds`; then they only answer
    (a Reset gets Accepted) until stdin closes. Prints JSON lines."""
    import websockets

    answered = [0]
    measuring = {"on": False, "send": True}

    async def charger(i: int, sem: asyncio.Semaphore, ready: asyncio.Event, connected: list, go: asyncio.Event):
        cid = f"{prefix}{i:05d}"
        auth = base64.b64encode(f"{cid}:{PASSWORD}".encode()).decode()
        async with sem:  # handshakes in flight, as a fleet reconnecting after an outage
            for attempt in range(20):
                try:
                    ws = await websockets.connect(url + cid, subprotocols=["ocpp1.6"], compression=None, open_timeout=120,
                                                  ping_interval=None, additional_headers={"Authorization": f"Basic {auth}"})
                    break
                except Exception:
                    await asyncio.sleep(0.5 + attempt)
            else:
                return
        connected.append(cid)
        if len(connected) == count:
            ready.set()
        await go.wait()
        n = 0
        pending = None
        try:
            while True:
                if measuring["send"] and pending is None:
                    n += 1
                    pending = f"{i:06d}{n:010d}"
                    frame = [2, pending, "Heartbeat", {}] if n % 2 else [2, pending, "StatusNotification", STATUS]
                    await ws.send(json.dumps(frame))
                msg = json.loads(await ws.recv())
                if msg[0] == 2:  # a command from ChargeOps
                    await ws.send(json.dumps([3, msg[1], {"status": "Accepted"}]))
                elif msg[1] == pending:
                    pending = None
                    if measuring["on"]:
                        answered[0] += 1
        except websockets.exceptions.ConnectionClosed:
            pass

    async def main():
        ready, go, sem = asyncio.Event(), asyncio.Event(), asyncio.Semaphore(100)
        connected: list = []
        started = time.perf_counter()
        tasks = [asyncio.create_task(charger(i, sem, ready, connected, go)) for i in range(count)]
        try:
            await asyncio.wait_for(ready.wait(), 600)
        except asyncio.TimeoutError:
            pass
        print(json.dumps({"connected": len(connected), "connect_s": round(time.perf_counter() - started, 1)}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
        go.set()
        await asyncio.sleep(3.0)  # warm up
        measuring["on"] = True
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        measuring["on"] = False
        elapsed = time.perf_counter() - t0
        measuring["send"] = False
        print(json.dumps({"rate": answered[0] / elapsed, "answered": answered[0]}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # until told to go
        for task in tasks:
            task.cancel()

    asyncio.run(main())


# --- the run ------------------------------------------------------------------------------------------------

def spawn(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)


def wait_line(proc: subprocess.Popen, timeout: float = 900) -> str:
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"process {proc.args} ended: rc {proc.poll()}")
    return line.strip()


def measure_server(role: str, port: int, count: int, seconds: float, env: dict, prefix: str):
    server = spawn(["--role", role, "--port", str(port)], env)
    assert wait_line(server) == "ready", role
    time.sleep(1.0)
    before = rss_kb(server.pid)
    loader = spawn(["--role", "load", "--url", f"ws://127.0.0.1:{port}/ocpp/", "--connections", str(count),
                    "--seconds", str(seconds), "--cid-prefix", prefix], env)
    connected = json.loads(wait_line(loader))
    time.sleep(1.0)
    after = rss_kb(server.pid)
    loader.stdin.write("go\n")
    loader.stdin.flush()
    rate = json.loads(wait_line(loader))
    result = {"role": role, **connected, **rate, "kb_per_connection": (after - before) / max(1, connected["connected"])}
    return server, loader, result


def stop(*procs) -> None:
    for proc in procs:
        try:
            proc.stdin.close()
        except Exception:
            pass
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", default="run")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--cid-prefix", default="BENCH-")
    args = parser.parse_args()
    if args.role == "bare":
        return serve_bare(args.port, inline=False)
    if args.role == "bare-inline":
        return serve_bare(args.port, inline=True)
    if args.role == "gateway":
        return serve_gateway(args.port)
    if args.role == "load":
        return load(args.url, args.connections, args.seconds, args.cid_prefix)

    workdir = tempfile.mkdtemp(prefix="bench-gateway-")
    run = uuid.uuid4().hex[:6]
    os.environ.setdefault("CHARGEOPS_VAR_DIR", workdir)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.db")
    os.environ["MQTT_TOPIC_PREFIX"] = f"benchgw{run}"
    os.environ.setdefault("CHARGER_COMMAND_TIMEOUT", "30")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    import config
    from flask_migrate import upgrade
    from sqlalchemy import insert, select
    from werkzeug.security import generate_password_hash

    from app import create_app
    from app.demo import people
    from app.extensions import db
    from app.models.base import utcnow
    from app.models.chargers import Charger, ChargerCommand
    from app.models.chargers_ocpp import ChargerOcppLink
    from app.services.chargers_ingest import Ingestor

    app = create_app({"LOG_LEVEL": "WARNING", "CELERY": {**config.CELERY, "task_default_queue": f"bench-{run}"}})
    count = args.connections
    with app.app_context():
        upgrade()
        app.appbuilder.sm.sync_roles()
        people.seed(db.session)
        now = utcnow()
        db.session.execute(insert(Charger), [
            {"cid": f"BENCH-{i:05d}", "name": f"Bench {i}", "type": "L2", "heartbeat_interval": 60, "unregistered": False,
             "offline": True, "commands_sent": 0, "created_at": now} for i in range(count)])
        hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        ids = db.session.scalars(select(Charger.id)).all()
        db.session.execute(insert(ChargerOcppLink), [
            {"charger_id": i, "password_hash": hashed, "connected": False, "password_set_at": now} for i in ids])
        db.session.commit()
    print(f"{count} chargers, {args.seconds:.0f} s per measurement, database {os.environ['DATABASE_URL'].split(':')[0]}",
          flush=True)

    results = {}
    for role in ("bare", "bare-inline", "gateway"):
        port = free_port()
        server, loader, result = measure_server(role, port, count, args.seconds, env, "BENCH-")
        results[role] = result
        print(f"{role:<12} connected {result['connected']:>5} in {result['connect_s']:>5.1f} s   "
              f"{result['rate']:8.0f} msg/s   {result['kb_per_connection']:6.1f} kB/connection", flush=True)
        if role != "gateway":
            stop(loader, server)
    gateway_rate = results["gateway"]["rate"]
    print(f"ratio gateway/bare          {gateway_rate / results['bare']['rate']:5.2f}   goal: >= 0.7")
    print(f"ratio gateway/bare-inline   {gateway_rate / results['bare-inline']['rate']:5.2f}")

    # (3) command round trip with the fleet connected (now idle: it only answers)
    ingestor = Ingestor(app, client_id=f"bench-ingest-{run}", session_expiry=60, writer_process=False).start()
    client = app.test_client()
    token = client.post("/api/v1/security/login", json={"username": "cpo", "password": app.config["DEMO_PASSWORD"],
                                                         "provider": "db"}).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    samples, statuses = [], {}
    for n in range(args.commands):
        cid = f"BENCH-{(n * 7919) % count:05d}"
        t0 = time.perf_counter()
        sent = client.post(f"/api/v1/chargers/{cid}/commands", json={"action": "Reset", "payload": {"type": "Soft"}},
                           headers=headers)
        command_id = sent.json["command_id"]
        while True:
            status = client.get(f"/api/v1/commands/{command_id}", headers=headers).json["status"]
            if status not in ("Queued", "Pending", "Sent"):
                break
            time.sleep(0.005)
        samples.append((time.perf_counter() - t0) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
    samples.sort()
    print(f"command round trip (API -> charger -> API, {args.commands} Resets)   p50 {samples[len(samples) // 2]:7.1f} ms"
          f"   p95 {samples[int(0.95 * (len(samples) - 1))]:7.1f} ms   statuses {statuses}")
    with app.app_context():
        late = db.session.scalar(select(ChargerCommand.id).where(ChargerCommand.late.is_(True)))
        assert late is None
    ingestor.stop(discard_session=True)
    stop(loader, server)


if __name__ == "__main__":
    main()
