"""OCPP gateway under 2,000 concurrent chargers, against a bare `ocpp` central system in the same run.

(1) message rate: N WebSocket chargers per server (a load process of raw clients, each with one CALL in
    flight, alternating Heartbeat and StatusNotification), in rounds taking turns, against
      - bare:        the `ocpp` library's central system that only answers (its example, library defaults),
      - bare-inline: the same with the schema validation inline (what the gateway does),
      - gateway:     `flask ocpp-gateway` (Basic auth, MQTT publish of every CALL on the real Mosquitto),
    each in a process of its own; answered CALLs per second per round. Goal: median gateway/bare >= 0.7.
(2) memory per connection: the server process's RSS after N connections minus before, divided by N.
(3) command round trip: POST /api/v1/chargers/<cid>/commands (Reset) -> gateway -> the charger answers
    -> result -> ingest -> GET /api/v1/commands/<id> final; p50/p95 with the N chargers connected.

    python bench/gateway.py [--connections 2000] [--rounds 3] [--seconds 10] [--commands 100]

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
from datetime import timedelta
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

    profile = os.environ.get("BENCH_GATEWAY_PROFILE")  # a file: cProfile the gateway, written when it is stopped
    if profile:
        import cProfile
        import signal

        profiler = cProfile.Profile()
        profiler.enable()

        def dump(*_):
            profiler.disable()
            profiler.dump_stats(profile)
            os._exit(0)
        signal.signal(signal.SIGTERM, dump)

    async def main():
        task = asyncio.create_task(gateway.serve())
        while not gateway.ready.is_set():
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await task

    asyncio.run(main())


# --- the chargers (one process of raw WebSocket clients) -------------------------------------------------

def load(url: str, count: int, seconds: float, prefix: str) -> None:
    """Connect `count` chargers and wait. Each "go" line on stdin: every charger keeps one CALL in flight
    for `seconds` (after a 1 s warm-up), then they pause and the rate is printed. Throughout, a CALL from
    ChargeOps (a Reset) is answered Accepted. Prints JSON lines; ends when stdin closes."""
    import websockets

    answered = [0]
    counting = [False]
    sending = asyncio.Event()

    async def charger(i: int, sem: asyncio.Semaphore, ready: asyncio.Event, connected: list):
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
        waiting: dict[str, asyncio.Future] = {}

        async def read():
            async for raw in ws:
                msg = json.loads(raw)
                if msg[0] == 2:  # a command from ChargeOps
                    await ws.send(json.dumps([3, msg[1], {"status": "Accepted"}]))
                elif msg[1] in waiting:
                    waiting.pop(msg[1]).set_result(None)

        reader = asyncio.create_task(read())
        n = 0
        try:
            while True:
                await sending.wait()
                n += 1
                unique_id = f"{i:06d}{n:010d}"
                answer = waiting[unique_id] = asyncio.get_running_loop().create_future()
                frame = [2, unique_id, "Heartbeat", {}] if n % 2 else [2, unique_id, "StatusNotification", STATUS]
                await ws.send(json.dumps(frame))
                await answer
                if counting[0]:
                    answered[0] += 1
        except websockets.exceptions.ConnectionClosed:
            reader.cancel()

    async def main():
        ready, sem = asyncio.Event(), asyncio.Semaphore(100)
        connected: list = []
        started = time.perf_counter()
        tasks = [asyncio.create_task(charger(i, sem, ready, connected)) for i in range(count)]
        try:
            await asyncio.wait_for(ready.wait(), 900)
        except asyncio.TimeoutError:
            pass
        print(json.dumps({"connected": len(connected), "connect_s": round(time.perf_counter() - started, 1)}), flush=True)
        loop = asyncio.get_running_loop()
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "go":
            sending.set()
            await asyncio.sleep(1.0)  # warm up
            answered[0], counting[0] = 0, True
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            counting[0] = False
            elapsed = time.perf_counter() - t0
            sending.clear()
            await asyncio.sleep(1.0)  # let the last CALLs be answered
            print(json.dumps({"rate": answered[0] / elapsed, "answered": answered[0]}), flush=True)
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


def start_server(role: str, count: int, seconds: float, env: dict):
    """The server in its own process and its chargers, connected; memory per connection measured."""
    port = free_port()
    server = spawn(["--role", role, "--port", str(port)], env)
    assert wait_line(server) == "ready", role
    time.sleep(1.0)
    before = rss_kb(server.pid)
    loader = spawn(["--role", "load", "--url", f"ws://127.0.0.1:{port}/ocpp/", "--connections", str(count),
                    "--seconds", str(seconds), "--cid-prefix", "BENCH-"], env)
    connected = json.loads(wait_line(loader))
    time.sleep(1.0)
    kb = (rss_kb(server.pid) - before) / max(1, connected["connected"])
    return server, loader, {"role": role, **connected, "kb_per_connection": kb, "rates": []}


def measure(loader: subprocess.Popen) -> float:
    loader.stdin.write("go\n")
    loader.stdin.flush()
    return json.loads(wait_line(loader))["rate"]


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
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=3)
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
            # seen just now: the API refuses commands to Offline chargers, and the ingest starts only for (3)
            {"cid": f"BENCH-{i:05d}", "name": f"Bench {i}", "type": "L2", "heartbeat_interval": 60, "unregistered": False,
             "last_seen": now, "offline_after": now + timedelta(hours=1), "offline": False, "commands_sent": 0,
             "created_at": now} for i in range(count)])
        hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        ids = db.session.scalars(select(Charger.id)).all()
        db.session.execute(insert(ChargerOcppLink), [
            {"charger_id": i, "password_hash": hashed, "connected": False, "password_set_at": now} for i in ids])
        db.session.commit()
    print(f"{count} chargers, {args.rounds} rounds of {args.seconds:.0f} s per server, database {os.environ['DATABASE_URL'].split(':')[0]}",
          flush=True)

    # all three servers up with their chargers; then rounds in turn, so a busy machine weighs on each alike
    started = {role: start_server(role, count, args.seconds, env) for role in ("bare", "bare-inline", "gateway")}
    for role, (_, _, result) in started.items():
        print(f"{role:<12} connected {result['connected']:>5} in {result['connect_s']:>5.1f} s   "
              f"{result['kb_per_connection']:6.1f} kB/connection", flush=True)
    for round_no in range(args.rounds):
        for role, (_, loader, result) in started.items():
            result["rates"].append(measure(loader))
        print(f"round {round_no + 1}: " + "   ".join(f"{r} {started[r][2]['rates'][-1]:7.0f} msg/s" for r in started), flush=True)
    ratios = sorted(g / b for g, b in zip(started["gateway"][2]["rates"], started["bare"][2]["rates"]))
    ratios_inline = sorted(g / b for g, b in zip(started["gateway"][2]["rates"], started["bare-inline"][2]["rates"]))
    print(f"ratio gateway/bare          median {ratios[len(ratios) // 2]:5.2f}  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
          f"   goal: >= 0.7")
    print(f"ratio gateway/bare-inline   median {ratios_inline[len(ratios_inline) // 2]:5.2f}")
    for role in ("bare", "bare-inline"):
        stop(started[role][1], started[role][0])
    server, loader = started["gateway"][0], started["gateway"][1]

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
