"""Writes from the phone's offline queue carry an Idempotency-Key: sent twice, applied once."""
from __future__ import annotations

import io
import threading

from sqlalchemy import func, select

from app.models.field import ChargerIssue, FieldPhoto, IssueNote, MaintenanceTask

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _count(session, model):
    session.rollback()
    return session.scalar(select(func.count()).select_from(model))


def test_an_issue_sent_twice_with_one_key_is_one_issue(api_as, session, make_charger):
    make_charger("APP-IK-1")
    api = api_as("installer")
    body = {"charger_cid": "APP-IK-1", "title": "Cable cut", "priority": "High"}
    first = api.post("/api/v1/issues/", json=body, headers={"Idempotency-Key": "phone-1:issue-1:0"})
    again = api.post("/api/v1/issues/", json=body, headers={"Idempotency-Key": "phone-1:issue-1:0"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["id"] == first.json["id"]
    assert _count(session, ChargerIssue) == 1
    other = api.post("/api/v1/issues/", json={**body, "title": "Something else"}, headers={"Idempotency-Key": "phone-1:issue-1:0"})
    assert other.status_code == 409 and "different request" in other.json["message"]
    assert _count(session, ChargerIssue) == 1


def test_a_key_is_the_callers_own(api_as, session, make_charger):
    make_charger("APP-IK-2")
    body = {"charger_cid": "APP-IK-2", "title": "Screen dark"}
    assert api_as("installer").post("/api/v1/issues/", json=body, headers={"Idempotency-Key": "shared-key-1"}).status_code == 201
    assert api_as("cpo").post("/api/v1/issues/", json=body, headers={"Idempotency-Key": "shared-key-1"}).status_code == 201
    assert _count(session, ChargerIssue) == 2


def test_a_refused_write_keeps_nothing_and_may_be_sent_again(api_as, session, make_charger):
    api = api_as("installer")
    refused = api.post("/api/v1/issues/", json={"charger_cid": "APP-NOPE", "title": "x"}, headers={"Idempotency-Key": "retry-me-1"})
    assert refused.status_code == 404
    make_charger("APP-NOPE")
    accepted = api.post("/api/v1/issues/", json={"charger_cid": "APP-NOPE", "title": "x"}, headers={"Idempotency-Key": "retry-me-1"})
    assert accepted.status_code == 201 and _count(session, ChargerIssue) == 1


def test_a_note_with_a_photo_sent_twice_is_one_note_and_one_photo(api_as, session, make_charger):
    make_charger("APP-IK-3")
    api = api_as("installer")
    issue = api.post("/api/v1/issues/", json={"charger_cid": "APP-IK-3", "title": "Holster"}).json["id"]
    for _ in range(2):  # a new multipart body (new boundary) each time, as a phone resending would make
        response = api.post(f"/api/v1/issues/{issue}/notes", headers={"Idempotency-Key": "note-photo-1"},
                            data={"body": "Photo", "photo": (io.BytesIO(PNG), "cable.png", "image/png")},
                            content_type="multipart/form-data")
        assert response.status_code in (200, 201), response.json
    assert _count(session, FieldPhoto) == 1
    assert session.scalar(select(func.count()).select_from(IssueNote).where(IssueNote.body == "Photo")) == 1


def test_the_same_key_at_once_from_two_requests_applies_once(app, api_as, session, make_charger):
    make_charger("APP-IK-4")
    api = api_as("cpo")
    statuses = []
    barrier = threading.Barrier(2)

    def send():
        with app.app_context():
            barrier.wait()
            statuses.append(api.post("/api/v1/maintenance/", json={"charger_cid": "APP-IK-4", "kind": "Routine",
                                                                    "due_date": "2026-12-20"},
                                     headers={"Idempotency-Key": "twice-at-once"}).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _count(session, MaintenanceTask) == 1
    assert sorted(statuses)[0] in (200, 201) and all(s in (200, 201, 409) for s in statuses)


def test_a_queued_transition_that_meets_another_status_is_a_conflict_not_an_overwrite(api_as, session, make_charger):
    make_charger("APP-IK-5")
    api = api_as("installer")
    issue = api.post("/api/v1/issues/", json={"charger_cid": "APP-IK-5", "title": "Display"}).json["id"]
    assert api_as("cpo").post(f"/api/v1/issues/{issue}/transition", json={"to": "In Progress"}).status_code == 200
    queued = api.post(f"/api/v1/issues/{issue}/transition", json={"to": "In Progress", "from": "Open"},
                      headers={"Idempotency-Key": "move-offline-1"})
    assert queued.status_code == 409 and "moved it meanwhile" in queued.json["message"]
    assert api.get(f"/api/v1/issues/{issue}").json["result"]["status"] == "In Progress"


def test_a_malformed_key_is_refused(api_as, make_charger):
    make_charger("APP-IK-6")
    response = api_as("cpo").post("/api/v1/issues/", json={"charger_cid": "APP-IK-6", "title": "x"},
                                  headers={"Idempotency-Key": "bad key!"})
    assert response.status_code == 400 and "Idempotency-Key" in response.json["message"]


def test_old_keys_are_forgotten(api_as, session, make_charger):
    from datetime import timedelta

    from app.models.base import utcnow
    from app.models.field_app import IdempotencyKey
    from app.services.field_app import prune_idempotency_keys

    make_charger("APP-IK-7")
    api = api_as("cpo")
    assert api.post("/api/v1/issues/", json={"charger_cid": "APP-IK-7", "title": "x"}, headers={"Idempotency-Key": "old-key-1"}).status_code == 201
    session.rollback()
    assert prune_idempotency_keys(session, now=utcnow() + timedelta(days=1), keep_days=14) == 0
    assert prune_idempotency_keys(session, now=utcnow() + timedelta(days=15), keep_days=14) == 1
    session.commit()
    assert _count(session, IdempotencyKey) == 0
