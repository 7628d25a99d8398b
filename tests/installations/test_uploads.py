"""The customer's signed, expiring upload link: refusals store nothing."""
from __future__ import annotations

import io
import os
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from tests.conftest import csrf_token
from tests.installations.conftest import JPEG, PDF, job


def _stored(app):
    folder = os.path.join(app.config["UPLOAD_DIR"], "installations")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _files(session):
    from app.models.installations import JobFile

    return session.scalar(select(func.count()).select_from(JobFile))


def _post(client, token, data):
    page = client.get(f"/installations/upload/{token}")
    return client.post(f"/installations/upload/{token}", data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))},
                       content_type="multipart/form-data")


def test_the_customer_completes_the_documents_through_the_link(app, flow, client, session):
    from app.services import installations
    from app.services.installations_uploads import upload_token

    job_id = flow.lead("TM-500")
    flow.do("centralops", job_id, "call", purpose="intro", outcome="reached")
    token = upload_token(job(session, job_id))
    before = set(_stored(app))
    response = _post(client, token, {"electricity_bill": (io.BytesIO(PDF), "bill.pdf"), "address": "7 Temple Rd",
                                      "latitude": "6.91", "longitude": "79.86", "electrician_name": "Ravi", "electrician_phone": "0771234500"})
    assert response.status_code == 200 and "saved" in response.get_data(as_text=True)
    current = job(session, job_id)
    assert current.stage == installations.DOCUMENTS_COMPLETE and float(current.latitude) == 6.91
    new = set(_stored(app)) - before
    assert len(new) == 1 and next(iter(new)).startswith(f"job{job_id}-electricity_bill-")  # generated names only


def test_expired_tampered_wrong_type_or_too_large_is_refused_and_nothing_is_stored(app, flow, client, session):
    from app.services.installations_uploads import upload_token

    job_id = flow.lead("TM-501")
    flow.do("centralops", job_id, "call", purpose="intro", outcome="reached")
    before = _stored(app)
    with freeze_time("2026-01-01 10:00:00"):
        old_token = upload_token(job(session, job_id))
    expired = client.get(f"/installations/upload/{old_token}")
    assert expired.status_code == 403 and "expired" in expired.get_data(as_text=True)

    token = upload_token(job(session, job_id))
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = client.post(f"/installations/upload/{tampered}", data={"electricity_bill": (io.BytesIO(PDF), "bill.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 400  # a form post without the page's CSRF token is refused before the link is read
    assert client.get(f"/installations/upload/{tampered}").status_code == 403
    assert "not valid" in client.get(f"/installations/upload/{tampered}").get_data(as_text=True)

    # a Windows executable named like a PDF
    wrong = _post(client, token, {"electricity_bill": (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 100), "bill.pdf"), "address": "x",
                                  "latitude": "6.9", "longitude": "79.8"})
    assert wrong.status_code == 400 and "not an accepted type" in wrong.get_data(as_text=True)
    big = PDF + b"0" * (app.config["INSTALLATIONS_MAX_UPLOAD_BYTES"])
    too_large = _post(client, token, {"electricity_bill": (io.BytesIO(big), "bill.pdf")})
    assert too_large.status_code == 400 and "too large" in too_large.get_data(as_text=True)
    # a bad map pin refuses the whole submission, the good bill included
    bad_pin = _post(client, token, {"electricity_bill": (io.BytesIO(PDF), "bill.pdf"), "address": "x", "latitude": "north", "longitude": "1"})
    assert bad_pin.status_code == 400
    assert _stored(app) == before and _files(session) == 0
    current = job(session, job_id)
    assert current.address == "12 Galle Road" and current.latitude is None  # nothing half-written


def test_a_link_for_a_cancelled_job_is_closed(flow, client, session):
    from app.services import installations
    from app.services.installations_uploads import upload_token

    job_id = flow.lead("TM-502")
    flow.do("centralops", job_id, "transition", to=installations.CANCELLED, comment="duplicate")
    assert client.get(f"/installations/upload/{upload_token(job(session, job_id))}").status_code == 403


def test_team_media_is_type_checked(flow, api_as, session):
    job_id = flow.lead("TM-503")
    flow.documents(job_id)
    flow.survey(job_id)
    flow.do("fieldteam", job_id, "call", purpose="survey day", outcome="confirmed")
    bad = api_as("fieldteam").post(f"/api/v1/jobs/{job_id}/survey_report", data={
        "main_supply_phase": "three", "survey_photo": (io.BytesIO(b"GIF89a" + b"\x00" * 20), "site.jpg")}, content_type="multipart/form-data")
    assert bad.status_code == 400 and _files(session) == 2 - 1  # only the customer's bill
    good = api_as("fieldteam").post(f"/api/v1/jobs/{job_id}/survey_report", data={
        "main_supply_phase": "three", "survey_photo": (io.BytesIO(JPEG), "site.jpg")}, content_type="multipart/form-data")
    assert good.status_code == 200 and _files(session) == 2
