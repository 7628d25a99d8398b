"""flask ingest / flask simulate: the two long-running charger processes of the Procfile."""
from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("ingest")
@click.option("--client-id", default=None, help="MQTT client id (default INGEST_CLIENT_ID); fixed, for the persistent session.")
@click.option("--batch-size", type=int, default=None, help="Messages per transaction (default INGEST_BATCH_SIZE).")
@click.option("--batch-ms", type=int, default=None, help="Longest wait to fill a batch (default INGEST_BATCH_MS).")
@with_appcontext
def ingest_command(client_id, batch_size, batch_ms):
    """Subscribe to every charger's MQTT traffic and persist it in batches (runs until stopped)."""
    from app.services.chargers_ingest import Ingestor

    logging.getLogger("chargeops.ingest").setLevel(logging.INFO)
    app = current_app._get_current_object()
    ingestor = Ingestor(app, client_id=client_id, batch_size=batch_size, batch_ms=batch_ms)
    click.echo(f"ingest: {ingestor.client_id} on {ingestor.url}, prefix {ingestor.prefix}")
    ingestor.run_forever()


@click.command("simulate")
@click.option("--chargers", "count", type=int, default=50, show_default=True, help="Fleet size.")
@click.option("--answer", type=click.Choice(["accept", "reject", "silent"]), default="accept", show_default=True,
              help="How commands are answered.")
@click.option("--heartbeat", type=float, default=30.0, show_default=True, help="Heartbeat interval in seconds.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: run until stopped).")
@click.option("--from-registry/--numbered", default=True, show_default=True,
              help="Play the chargers in the registry (demo data) or SIM-0001.. identities.")
@click.option("--seed", type=int, default=None)
@click.option("--firmware-failure-rate", type=float, default=0.0, show_default=True,
              help="Share of UpdateFirmware attempts that end in InstallationFailed.")
@click.option("--firmware-fail", "firmware_fail", multiple=True,
              help="CID=DownloadFailed,ok,...: the outcome of each firmware attempt of that charger in turn.")
@with_appcontext
def simulate_command(count, answer, heartbeat, duration, from_registry, seed, firmware_failure_rate, firmware_fail):
    """Run a fleet of simulated chargers that speak the MQTT contract and answer commands."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models.chargers import Charger
    from app.services.chargers_simulator import Fleet

    cids: list[str] = []
    if from_registry:
        cids = list(db.session.scalars(select(Charger.cid).where(Charger.unregistered.is_(False)).order_by(Charger.cid).limit(count)))
    cids += [f"SIM-{i:04d}" for i in range(1, count - len(cids) + 1)]
    db.session.remove()
    fleet = Fleet(current_app.config["MQTT_URL"], current_app.config["MQTT_TOPIC_PREFIX"], cids,
                  answer=answer, heartbeat_interval=heartbeat, seed=seed,
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


COMMANDS = [ingest_command, simulate_command]
