"""SSH reboot: a registry of hosts with pinned host keys, and reboot jobs run by a Celery task.

The private key is a secret kept outside the database: `key_secret` is `file:/absolute/path`
(outside the application's tree) or `env:VARIABLE` holding the key text. The host key is pinned
and checked with paramiko's RejectPolicy: a server with another key fails the job before any
authentication, and nothing runs.

Who may reboot: CPO and Admin (the `SshReboot` row of PERMISSION_MATRIX, checked by the API and
the screen), and the department's ssh_reboot capability.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.integrations import ssh
from app.models.base import utcnow
from app.models.chargers import Charger
from app.models.fleet import SshHost, SshJob
from app.services.outbox import enqueue_after_commit
from app.services import Conflict, InvalidInput, NotFound, iso_utc
from app.services.chargers import get_charger
from app.services.activity import record_activity
from app.services.people import require_capability

APP_ROOT = Path(__file__).resolve().parent.parent.parent
OPEN_JOB = ("Queued", "Running")


def check_host(session: Session, host: SshHost) -> None:
    """A registry entry: a parseable pinned key, a secret reference (never the key itself), a target."""
    try:
        ssh.parse_public_key(host.host_key or "")
    except ValueError as exc:
        raise InvalidInput(f"host_key: {exc}")
    check_key_secret(host.key_secret or "")
    if not (host.charger_id or host.charger) and not (host.site or "").strip():
        raise InvalidInput("give the charger (its own Linux) or the site (the site controller)")
    if not (host.reboot_command or "").strip():
        raise InvalidInput("reboot_command is required")
    if not 1 <= (host.port or 22) <= 65535:
        raise InvalidInput("port must be 1-65535")


def check_key_secret(ref: str) -> None:
    if "PRIVATE KEY" in ref:
        raise InvalidInput("key_secret names where the key is (file:/path or env:NAME), never the key itself")
    kind, _, value = ref.partition(":")
    if kind == "env" and value.replace("_", "").isalnum():
        return
    if kind == "file" and Path(value).is_absolute():
        if Path(value).resolve().is_relative_to(APP_ROOT):
            raise InvalidInput("key_secret: the key file must live outside the application's folder")
        return
    raise InvalidInput("key_secret must be file:/absolute/path or env:VARIABLE_NAME")


def private_key_for(host: SshHost):
    kind, _, value = host.key_secret.partition(":")
    if kind == "env":
        text = os.environ.get(value)
        if not text:
            raise ssh.SshFailure(f"the environment variable {value} is not set")
    else:
        try:
            text = Path(value).read_text()
        except OSError as exc:
            raise ssh.SshFailure(f"the key file cannot be read: {exc.strerror}")
    return ssh.load_private_key(text)


def host_for_charger(session: Session, charger: Charger) -> SshHost:
    """The charger's own Linux if registered, else its site's controller."""
    host = session.scalar(select(SshHost).where(SshHost.charger_id == charger.id).order_by(SshHost.id).limit(1))
    if host is None and charger.site:
        host = session.scalar(select(SshHost).where(SshHost.site == charger.site, SshHost.charger_id.is_(None))
                              .order_by(SshHost.id).limit(1))
    if host is None:
        raise NotFound(f"no SSH host is registered for charger {charger.cid} or its site")
    return host


def request_reboot(session: Session, cid: str, user_id: Optional[int]) -> SshJob:
    """Queue a reboot job (audited) and its task, both in the caller's transaction. One open job per host.
    Needs the department's ssh_reboot capability."""
    require_capability(session, user_id, "ssh_reboot")
    charger = get_charger(session, cid)
    host = host_for_charger(session, charger)
    if session.scalar(select(SshJob.id).where(SshJob.host_id == host.id, SshJob.status.in_(OPEN_JOB))):
        raise Conflict(f"a reboot of {host.name} is already under way")
    job = SshJob(job_id=str(uuid.uuid4()), host_id=host.id, charger_id=charger.id, status="Queued",
                 requested_by_id=user_id, created_at=utcnow())
    session.add(job)
    session.flush()
    record_activity(session, user_id, "ssh_reboot", f"SSH reboot of {host.name} for charger {cid} requested",
                    ref_type="ssh_job", ref_id=job.id)
    enqueue_after_commit(session, "ssh.run_reboot", job.job_id)
    return job


def run_reboot(session: Session, job_id: str) -> SshJob:
    """Connect (host key pinned), run the host's reboot command, store exit code and output.

    Commits once itself, to show the job Running while it runs; the caller commits the outcome."""
    job = get_job(session, job_id)
    if job.status != "Queued":
        return job  # a redelivered task: it ran (or is running) already
    job.status, job.started_at = "Running", utcnow()
    session.commit()  # visible as Running while it runs
    host = job.host
    try:
        result = ssh.run_command(host.host, host.port, host.username, host.host_key, private_key_for(host),
                                 host.reboot_command, timeout=host.timeout_s,
                                 connect_timeout=current_app.config["SSH_CONNECT_TIMEOUT_S"])
    except (ssh.HostKeyMismatch, ssh.SshFailure, ValueError) as exc:
        job.status, job.error = "Failed", str(exc)[:300]
    else:
        job.exit_code, job.output = result.exit_code, result.output
        job.status = "Succeeded" if result.exit_code == 0 else "Failed"
        if result.exit_code != 0:
            job.error = f"exit code {result.exit_code}"
    job.finished_at = utcnow()
    record_activity(session, None, "ssh_reboot", f"SSH reboot of {host.name}: {job.status}"
                    + (f" ({job.error})" if job.error else ""), ref_type="ssh_job", ref_id=job.id)
    return job


def get_job(session: Session, job_id: str) -> SshJob:
    job = session.scalar(select(SshJob).where(SshJob.job_id == job_id))
    if job is None:
        raise NotFound(f"no SSH job {job_id}")
    return job


def job_json(job: SshJob) -> dict:
    return {"job_id": job.job_id, "status": job.status, "exit_code": job.exit_code, "output": job.output,
            "error": job.error, "host": job.host.name, "cid": job.charger.cid,
            "requested_by": job.requested_by.username if job.requested_by else None,
            "created_at": iso_utc(job.created_at), "finished_at": iso_utc(job.finished_at)}


def recent_jobs(session: Session, charger_id: int, limit: int = 10) -> list[SshJob]:
    return list(session.scalars(select(SshJob).where(SshJob.charger_id == charger_id)
                                .order_by(SshJob.id.desc()).limit(limit)))
