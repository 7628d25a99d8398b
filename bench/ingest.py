"""Ingest throughput: a burst of charger messages through Mosquitto, drained by (a) a bare paho
subscriber that only counts and (b) the real ingest until every message is persisted. Same run,
same broker, same burst; prints both rates and the ratio (goal >= 0.5, aim 0.8). The two are measured
alternately (--rounds, default 2) and the median ratio printed: on a 2-core machine the bare
subscriber's own rate moves by a quarter from one run to the next.

The burst is queued in a private Mosquitto (persistent sessions, no queue limit) while the
consumer is away, then the consumer reconnects and the clock runs until it has drained all of it:
that measures the consumer, not the publisher.

    python bench/ingest.py --messages 200000 --chargers 10000       # the issue's size
    python bench/ingest.py --messages 50000 --chargers 5000         # quicker
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/chargeops_bench python bench/ingest.py
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(workdir: Path, port: int) -> subprocess.Popen:
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    data.chmod(0o777)
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def burst(url: str, port: int, prefix: str, messages: int, chargers: int, seed: int = 7) -> float:
    """Publish the burst with QoS 1; returns the publish rate."""
    from app.integrations.mqtt import make_client

    rng = random.Random(seed)
    client, _ = make_client(url)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ts = "2026-11-21T08:15:00Z"
    started = time.perf_counter()
    for i in range(messages):
        cid = f"B-{rng.randrange(chargers):05d}"
        roll = rng.random()
        if roll < 0.6:
            topic, body = f"{prefix}/chargers/{cid}/ocpp/Heartbeat", {"ts": ts, "msg_id": f"s{seed}m{i}", "payload": {}}
        elif roll < 0.85:
            status = rng.choice(["Available", "Charging", "Preparing", "Faulted"])
            topic, body = f"{prefix}/chargers/{cid}/ocpp/StatusNotification", {"ts": ts, "msg_id": f"s{seed}m{i}", "payload": {
                "connectorId": rng.randint(0, 2), "status": status, "errorCode": "GroundFailure" if status == "Faulted" else "NoError"}}
        elif roll < 0.95:
            topic, body = f"{prefix}/chargers/{cid}/ocpp/MeterValues", {"ts": ts, "msg_id": f"s{seed}m{i}", "payload": {
                "connectorId": 1, "meterValue": [{"timestamp": ts, "sampledValue": [{"value": str(i), "unit": "Wh"}]}]}}
        else:
            topic, body = f"{prefix}/chargers/{cid}/telemetry", {"ts": ts, "rssi_dbm": -rng.randint(50, 95), "temperature_c": 35.5}
        payload = json.dumps(body)
        while len(client._out_messages) > 20000:  # keep the publisher's own queue bounded
            time.sleep(0.005)
        while client.publish(topic, payload, qos=1).rc not in (0, 4):  # 4: queued until reconnected
            time.sleep(0.01)
    while client._out_messages:  # every PUBACK back from the broker
        time.sleep(0.05)
    rate = messages / (time.perf_counter() - started)
    client.disconnect()
    client.loop_stop()
    return rate


def bare_subscriber(url: str, port: int, prefix: str, client_id: str, expected: int, connect_only: bool = False) -> float:
    """Only counts; QoS 1, persistent session, same topics (shared) as the ingest."""
    from app.integrations.mqtt import make_client
    from app.services.chargers_ingest import subscriptions

    done = threading.Event()
    count = [0]
    client, _ = make_client(url, client_id)

    def on_message(c, u, m):
        count[0] += 1
        if count[0] >= expected:
            done.set()

    subscribed = threading.Event()
    client.on_connect = lambda c, u, f, r, p: c.subscribe([(t, 1) for t in subscriptions(prefix)])
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 5000
    started = time.perf_counter()
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    if connect_only:
        subscribed.wait(10)
        client.disconnect()
        client.loop_stop()
        return 0.0
    done.wait(600)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return count[0] / elapsed


def measure_bare(url: str, port: int, prefix: str, args, seed: int) -> tuple[float, float]:
    """(a): subscribe with a persistent session, go away, burst, come back and count until all arrived."""
    bare_id = f"bench-bare-{uuid.uuid4().hex[:6]}"
    bare_subscriber(url, port, prefix, bare_id, 0, connect_only=True)
    pub_rate = burst(url, port, prefix, args.messages, args.chargers, seed=seed)
    cpu = time.process_time()
    rate = bare_subscriber(url, port, prefix, bare_id, args.messages)
    print(f"         bare subscriber CPU {(time.process_time() - cpu) / args.messages * 1e6:.0f} us/msg", flush=True)
    return rate, pub_rate


def measure_ingest(app, url: str, port: int, prefix: str, args, seed: int) -> tuple[float, str]:
    """(b): the same with the real ingest, until every message is applied (or dropped as a duplicate)."""
    from app.services.chargers_ingest import Ingestor

    app.config["MQTT_TOPIC_PREFIX"] = prefix  # its own topics: no other session shares the group

    def ingestor() -> Ingestor:
        return Ingestor(app, client_id=ingest_id, prefix=prefix, batch_size=args.batch_size, batch_ms=50,
                        session_expiry=3600, dispatch_events=False)

    ingest_id = f"bench-ingest-{uuid.uuid4().hex[:6]}"
    first = ingestor()
    first.start()
    first.stop()
    burst(url, port, prefix, args.messages, args.chargers, seed=seed)
    second = ingestor()
    second.start_writer()  # the writer process is up before the clock starts, as in a running ingest
    started, cpu = time.perf_counter(), time.process_time()
    second.start(wait=0)
    deadline = started + 1800
    tick = started
    while second.stats["applied"] + second.stats["duplicates"] < args.messages and time.perf_counter() < deadline:
        time.sleep(0.05)
        if os.environ.get("BENCH_VERBOSE") and time.perf_counter() - tick > 2:
            tick = time.perf_counter()
            print(second.stats, second.queue.qsize(), flush=True)
    elapsed = time.perf_counter() - started
    receiver_cpu = time.process_time() - cpu
    second.stop(discard_session=True)
    per = 1e6 / args.messages
    return args.messages / elapsed, (
        f"{second.stats['batches']} batches, {second.stats['write_s']:.1f} s in batch writes, "
        f"{second.stats['duplicates']} duplicates; CPU per message: receiver {receiver_cpu * per:.0f} us, "
        f"writer {second.stats['write_cpu_s'] * per:.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=int(os.environ.get("BENCH_MESSAGES", 100000)))
    parser.add_argument("--chargers", type=int, default=int(os.environ.get("BENCH_CHARGERS", 10000)))
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="bare and ingest measured alternately, this many times each")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    workdir.chmod(0o777)
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    os.environ.setdefault("CHARGEOPS_VAR_DIR", str(workdir / "var"))
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select

    from app import create_app
    from app.extensions import db
    from app.models.base import utcnow
    from app.models.chargers import Charger, ChargerMessage

    app = create_app({"MQTT_URL": url, "MQTT_TOPIC_PREFIX": prefix, "LOG_LEVEL": "WARNING"})
    broker = start_broker(workdir, port)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))  # still stop the private broker
    try:
        with app.app_context():
            upgrade()
            db.session.execute(insert(Charger), [
                {"cid": f"B-{n:05d}", "name": f"Bench {n}", "type": "L2" if n % 3 else "L3", "heartbeat_interval": 60,
                 "unregistered": False, "offline": False, "commands_sent": 0, "created_at": utcnow()}
                for n in range(args.chargers)
            ])
            db.session.commit()
            print(f"engine: {db.engine.dialect.name}; {args.messages} messages from {args.chargers} chargers; "
                  f"batch {args.batch_size}; 2-core box: consumer drains a queued burst", flush=True)

            ratios = []
            for round_no in range(1, args.rounds + 1):
                bare_rate, pub_rate = measure_bare(url, port, f"{prefix}r{round_no}a", args, seed=10 * round_no)
                print(f"round {round_no}  (a) bare paho subscriber (count only)   {bare_rate:10.0f} msg/s   "
                      f"(publish {pub_rate:.0f} msg/s)", flush=True)
                ingest_rate, detail = measure_ingest(app, url, port, f"{prefix}r{round_no}b", args, seed=10 * round_no + 1)
                print(f"round {round_no}  (b) real ingest (until persisted)       {ingest_rate:10.0f} msg/s   ({detail})", flush=True)
                ratios.append(ingest_rate / bare_rate)
                print(f"round {round_no}  ratio ingest/bare {ratios[-1]:5.2f}", flush=True)
            persisted = db.session.scalar(select(func.count()).select_from(ChargerMessage).where(ChargerMessage.dedup_key.is_not(None)))
            print(f"{persisted} msg_ids persisted in all (telemetry has no msg_id)")
            print(f"ratio ingest/bare {statistics.median(ratios):5.2f} (median of {len(ratios)} rounds; "
                  f"{min(ratios):.2f}..{max(ratios):.2f})   goal >= 0.5 (aim 0.8)", flush=True)
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
