"""A firmware campaign over 20 simulated chargers on the real broker, driven by real beat and worker processes:
batches respected, failures retried, auto-pause at the threshold, the history per charger, resumed after a
worker restart."""
from __future__ import annotations

from datetime import timedelta

import io

import pytest
from sqlalchemy import func, select

from app.models.base import utcnow
from app.models.chargers import Charger, ChargerCommand
from app.models.fleet import CampaignCharger, FirmwareCampaign, FirmwareStatusEvent
from app.models.people import ActivityLog
from tests.chargers.conftest import wait_for

CIDS = [f"FW-{i:02d}" for i in range(1, 21)]
IMAGE = b"SIMFW 1.5.0\n" + bytes(range(256)) * 64
FAILURES = {
    "FW-02": ["DownloadFailed"],  # fails once, then succeeds on the retry
    "FW-07": ["InstallationFailed"],
    **{cid: ["InstallationFailed", "InstallationFailed"] for cid in ("FW-11", "FW-12", "FW-13", "FW-14")},  # for good
}


def _register(session):
    for cid in CIDS:
        session.add(Charger(cid=cid, name=f"Charger {cid}", type="L2", vendor="SimCharge", model="SC-7",
                            firmware_version="1.4.2", heartbeat_interval=3600,
                            last_seen=utcnow(), offline_after=utcnow() + timedelta(hours=1)))  # online: seen just now
    session.commit()


def _upload(api):
    response = api.post("/api/v1/firmware/", data={
        "vendor": "SimCharge", "model": "SC-7", "version": "1.5.0", "notes": "fixes the lock",
        "file": (io.BytesIO(IMAGE), "sc7-1.5.0.bin")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json


def _campaign(api, campaign_id):
    response = api.get(f"/api/v1/firmware/campaigns/{campaign_id}")
    assert response.status_code == 200, response.json
    return response.json


def _history(session, cid):
    return list(session.scalars(
        select(FirmwareStatusEvent.status).join(Charger, Charger.id == FirmwareStatusEvent.charger_id)
        .where(Charger.cid == cid).order_by(FirmwareStatusEvent.id)))



def test_campaign_in_batches_with_retries_auto_pause_and_resume_after_a_worker_restart(
        session, api_as, ingest, fleet, celery_processes):
    _register(session)
    sim = fleet(CIDS, firmware_failures=FAILURES, firmware_step_s=0.1)
    cpo = api_as("cpo")
    fw = _upload(cpo)
    assert fw["sha256"] and fw["size"] == len(IMAGE)
    assert cpo.get("/api/v1/firmware/").json["result"][0]["version"] == "1.5.0"

    created = cpo.post("/api/v1/firmware/campaigns", json={
        "firmware_id": fw["id"], "vendor": "SimCharge", "model": "SC-7", "batch_size": 5,
        "max_retries": 1, "failure_threshold": 0.2})
    assert created.status_code == 201, created.json
    campaign_id = created.json["id"]
    assert _campaign(cpo, campaign_id)["counts"]["Pending"] == 20

    celery_processes.start("worker")
    celery_processes.start("beat")
    paused = wait_for(session, lambda: session.get(FirmwareCampaign, campaign_id).status == "Paused", timeout=180)
    assert paused, (_campaign(cpo, campaign_id), celery_processes.log("worker"))

    # auto-pause: at the threshold, said why, audited, and batch 4 never started
    body = _campaign(cpo, campaign_id)
    assert "failure rate" in body["paused_reason"]
    assert session.scalar(select(ActivityLog).where(ActivityLog.kind == "firmware_campaign",
                                                    ActivityLog.description.contains("Paused by itself")))
    by_cid = {c["cid"]: c for c in body["chargers"]}
    assert all(by_cid[cid]["status"] == "Pending" and by_cid[cid]["attempts"] == 0 for cid in CIDS[15:]), body
    assert all(by_cid[cid]["status"] == "Installed" for cid in CIDS[:10]), body

    # failures retried: one failure then Installed on the second attempt; the four that always fail end Failed
    for cid in ("FW-02", "FW-07"):
        assert by_cid[cid]["attempts"] == 2 and by_cid[cid]["status"] == "Installed"
    assert _history(session, "FW-02") == ["Downloading", "DownloadFailed", "Downloading", "Downloaded",
                                          "Installing", "Installed"]
    assert _history(session, "FW-01") == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert sum(1 for cid in ("FW-11", "FW-12", "FW-13", "FW-14") if by_cid[cid]["status"] == "Failed") >= 3

    # the worker goes away (a deploy, a crash); someone resumes the campaign meanwhile
    celery_processes.stop("worker")
    resumed = cpo.post(f"/api/v1/firmware/campaigns/{campaign_id}/resume")
    assert resumed.status_code == 200 and resumed.json["status"] == "Running", resumed.json
    assert cpo.post(f"/api/v1/firmware/campaigns/{campaign_id}/resume").status_code == 409
    celery_processes.start("worker")
    done = wait_for(session, lambda: session.get(FirmwareCampaign, campaign_id).status == "Completed", timeout=180)
    assert done, (_campaign(cpo, campaign_id), celery_processes.log("worker"))

    body = _campaign(cpo, campaign_id)
    assert body["counts"]["Installed"] == 16 and body["counts"]["Failed"] == 4
    assert all(c["attempts"] == 2 for c in body["chargers"] if c["status"] == "Failed")
    # each charger's version comes from its next BootNotification
    assert wait_for(session, lambda: session.scalar(select(func.count()).select_from(Charger).where(
        Charger.firmware_version == "1.5.0")) == 16)
    assert session.scalar(select(Charger.firmware_version).where(Charger.cid == "FW-11")) == "1.4.2"

    # batches respected: no charger of batch n+1 got its first UpdateFirmware before batch n had all finished
    targets = {t.charger_id: t for t in session.scalars(select(CampaignCharger))}
    first_sent = dict(session.execute(select(ChargerCommand.charger_id, func.min(ChargerCommand.created_at))
                                      .where(ChargerCommand.action == "UpdateFirmware")
                                      .group_by(ChargerCommand.charger_id)).all())
    for batch in range(1, 4):
        previous_done = max(t.finished_at for t in targets.values() if t.batch_no == batch - 1)
        this_start = min(first_sent[c] for c, t in targets.items() if t.batch_no == batch)
        assert this_start >= previous_done, batch
    # every UpdateFirmware pointed at our signed URL, and the chargers downloaded the image from it
    locations = {c["payload"]["location"] for c in sim.commands_seen if c["action"] == "UpdateFirmware"}
    assert all("/fleet/firmware/" in loc for loc in locations)
