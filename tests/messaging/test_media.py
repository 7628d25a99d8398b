"""Inbound media: downloaded by a task with Twilio auth, type- and size-checked, stored under
UPLOAD_DIR with generated names; a failed download is retried and never loses the message."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.models.messaging import Message, MessageMedia
from tests.messaging.conftest import ACCOUNT_SID, receive, wait_for

JPEG = b"\xff\xd8\xff\xe0" + b"0" * 200


def _media_url(twilio, name: str) -> str:
    return twilio.url_for(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/{name}")


def test_media_is_downloaded_checked_and_stored(app, client, session, twilio, celery_worker):
    twilio.expect_request(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ok").respond_with_data(
        JPEG, content_type="image/jpeg")
    twilio.expect_request(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/big").respond_with_data(
        b"0" * 5000, content_type="application/pdf")
    twilio.expect_request(f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/html").respond_with_data(
        b"<script>", content_type="text/html")
    receive(client, "photo of the broken plug", NumMedia="3",
            MediaUrl0=_media_url(twilio, "ok"), MediaContentType0="image/jpeg",
            MediaUrl1=_media_url(twilio, "big"), MediaContentType1="application/pdf",
            MediaUrl2=_media_url(twilio, "html"), MediaContentType2="text/html")
    done = wait_for(session, lambda: all(m.status != "pending" for m in session.scalars(select(MessageMedia)).all()) and
                    session.scalars(select(MessageMedia).order_by(MessageMedia.idx)).all(), what="downloads")
    ok, big, html = done
    assert ok.status == "stored" and ok.size == len(JPEG) and ok.path.endswith(".jpg")
    stored = Path(app.config["UPLOAD_DIR"]) / ok.path
    assert stored.read_bytes() == JPEG and "ok" not in stored.name  # a generated name
    assert big.status == "rejected" and "limit" in big.error
    assert html.status == "rejected" and "text/html" in html.error
    assert session.scalar(select(Message.body)) == "photo of the broken plug"  # the message is kept
    auth = [req.headers.get("Authorization") for req, _ in twilio.log if "/Media/" in req.path]
    assert all(a and a.startswith("Basic ") for a in auth)


def test_a_failed_download_is_retried(client, session, twilio, celery_worker, web_as):
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/flaky"
    twilio.expect_oneshot_request(path).respond_with_data("busy", status=503)
    twilio.expect_request(path).respond_with_data(b"OggS" + b"1" * 100, content_type="audio/ogg")
    receive(client, "", NumMedia="1", MediaUrl0=twilio.url_for(path), MediaContentType0="audio/ogg")
    media = wait_for(session, lambda: session.scalar(select(MessageMedia).where(MessageMedia.status == "stored")),
                     timeout=30, what="retried download")
    assert media.attempts == 2 and media.path.endswith(".ogg")
    browser = web_as("agent")
    served = browser.get(f"/messaging/media/{media.id}")
    assert served.status_code == 200 and served.data.startswith(b"OggS")
    assert web_as("finance").get(f"/messaging/media/{media.id}").status_code == 403
