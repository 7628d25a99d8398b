"""Fleet Celery tasks: firmware campaigns (beat and the ingest's hand-over) and SSH reboots."""
from __future__ import annotations

from celery import shared_task

from app.extensions import db
from app.services import chargers_commands
from app.services import firmware, ssh_reboot


@shared_task(name="firmware.advance_campaigns")
def advance_campaigns() -> int:
    """Beat, every FIRMWARE_BEAT_SECONDS: move every running campaign a step (its state is all in the DB)."""
    to_publish = firmware.advance_campaigns(db.session)
    db.session.commit()
    for command_id in to_publish:
        chargers_commands.publish_command(command_id)
    return len(to_publish)


@shared_task(name="firmware.charger_firmware_status")
def charger_firmware_status(charger_id: int, detail: str = "") -> int:
    """Handed over by the ingest after a FirmwareStatusNotification moved a campaign: advance without waiting for beat."""
    return advance_campaigns()


# the hard limit backs up paramiko's own timeouts: a hung connection cannot hold a worker for ever
@shared_task(name="ssh.run_reboot", soft_time_limit=300, time_limit=330)
def run_reboot(job_id: str) -> str:
    job = ssh_reboot.run_reboot(db.session, job_id)
    db.session.commit()
    return job.status
