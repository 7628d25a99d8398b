"""flask ingest / flask simulate / flask ocpp-gateway: the long-running charger processes of the Procfile."""
from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext
from app.services.chargers_ingest import Ingestor
from sqlalchemy import select
from app.extensions import db
from app.models.chargers import Charger
from app.models.customers import CustomerTag
from app.services.chargers_simulator import Fleet
from app.ocpp.gateway import Gateway
from app.ocpp.simulator import OcppFleet


@click.command("ingest")
@click.option("--client-id", default=None, help="MQTT client id (default INGEST_CLIENT_ID); fixed, for the persistent session.")
@click.option("--batch-size", type=int, default=None, help="Messages per transaction (default INGEST_BATCH_SIZE).")
@click.option("--batch-ms", type=int, default=None, help="Longest wait to fill a batch (default INGEST_BATCH_MS).")
@with_appcontext
def ingest_command(client_id, batch_size, batch_ms):
    """Subscribe to every charger's MQTT traffic and persist it in batches (runs until stopped)."""
    logging.getLogger("chargeops.ingest").setLevel(logging.INFO)
    app = current_app._get_current_object()
    ingestor = Ingestor(app, client_id=client_id, batch_size=batch_size, batch_ms=batch_ms)
    click.echo(f"ingest: {ingestor.client_id} on {ingestor.url}, prefix {ingestor.prefix}")
    ingestor.run_forever()


@click.command("ingest-session")
@with_appcontext
def ingest_session_command():
    """Open the ingest's persistent MQTT session and leave (before the first `flask ingest`): from then on the
    broker keeps every charger message until the ingest reads it, even one sent in the ingest's first seconds."""
    ingestor = Ingestor(current_app._get_current_object())
    if not ingestor.open_session():
        raise click.ClickException(f"the broker at {ingestor.url} did not confirm the ingest's subscriptions")
    click.echo(f"ingest: session of {ingestor.client_id} open on {ingestor.url}, prefix {ingestor.prefix}")


@click.command("simulate")
@click.option("--chargers", "count", type=int, default=50, show_default=True, help="Fleet size.")
@click.option("--all", "whole_registry", is_flag=True, default=False,
              help="Play every charger in the registry (the whole demo fleet), however many there are.")
@click.option("--answer", type=click.Choice(["accept", "reject", "silent"]), default="accept", show_default=True,
              help="How commands are answered.")
@click.option("--heartbeat", type=float, default=None,
              help="Heartbeat interval in seconds (default 30; with --ocpp, what the gateway answers at boot).")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: run until stopped).")
@click.option("--from-registry/--numbered", default=True, show_default=True,
              help="Play the chargers in the registry (demo data) or SIM-0001.. identities.")
@click.option("--seed", type=int, default=None)
@click.option("--ocpp", "over_ocpp", is_flag=True, default=False,
              help="Speak OCPP 1.6J to the gateway (OCPP_URL, OCPP_DEMO_PASSWORD) instead of publishing on MQTT.")
@click.option("--firmware-failure-rate", type=float, default=0.0, show_default=True,
              help="Share of UpdateFirmware attempts that end in InstallationFailed.")
@click.option("--firmware-fail", "firmware_fail", multiple=True,
              help="CID=DownloadFailed,ok,...: the outcome of each firmware attempt of that charger in turn.")
@with_appcontext
def simulate_command(count, whole_registry, answer, heartbeat, duration, from_registry, seed, over_ocpp, firmware_failure_rate, firmware_fail):
    """Run a fleet of simulated chargers that speak the MQTT contract (or OCPP, with --ocpp) and answer commands."""
    cids: list[str] = []
    if from_registry or whole_registry:
        registered = select(Charger.cid).where(Charger.unregistered.is_(False)).order_by(Charger.cid)
        cids = list(db.session.scalars(registered if whole_registry else registered.limit(count)))
    if not whole_registry:
        cids += [f"SIM-{i:04d}" for i in range(1, count - len(cids) + 1)]
    tags = list(db.session.scalars(select(CustomerTag.tag).where(CustomerTag.active.is_(True)).order_by(CustomerTag.id).limit(200)))
    db.session.remove()
    if over_ocpp:
        if answer == "silent":
            raise click.UsageError("--ocpp chargers always answer: use --answer accept or reject")
        password = current_app.config["OCPP_DEMO_PASSWORD"]
        fleet = OcppFleet(current_app.config["OCPP_URL"], cids, lambda cid: password, answer=answer,
                          heartbeat_interval=heartbeat, tags=tags, seed=seed)
        click.echo(f"simulator: {len(cids)} OCPP chargers on {fleet.url}, answering {answer}")
        fleet.run(duration)
        return
    fleet = Fleet(current_app.config["MQTT_URL"], current_app.config["MQTT_TOPIC_PREFIX"], cids,
                  answer=answer, heartbeat_interval=heartbeat or 30.0, seed=seed,
                  firmware_failure_rate=firmware_failure_rate,
                  firmware_failures={k: v.split(",") for k, _, v in (item.partition("=") for item in firmware_fail)})
    fleet.start()
    click.echo(f"simulator: {len(cids)} chargers on prefix {fleet.prefix}, answering {answer}")
    try:
        fleet.run(duration)
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()


@click.command("ocpp-gateway")
@click.option("--host", default=None, help="Listen address (default OCPP_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default OCPP_PORT).")
@click.option("--node", default=None, help="This gateway's name in the registry (default OCPP_NODE_ID or host:port).")
@with_appcontext
def ocpp_gateway_command(host, port, node):
    """Accept OCPP 1.6J chargers over WebSocket and carry their traffic onto MQTT both ways (runs until stopped)."""
    logging.getLogger("chargeops.ocpp").setLevel(logging.INFO)
    gateway = Gateway(current_app._get_current_object(), host=host, port=port, node=node)
    click.echo(f"ocpp-gateway: {gateway.node} on {gateway.host}:{gateway.port}{gateway.path_prefix}<cid>")
    gateway.run_forever()


COMMANDS = [ingest_command, ingest_session_command, simulate_command, ocpp_gateway_command]
