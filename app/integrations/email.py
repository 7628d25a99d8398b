"""Thin wrapper around smtplib: one message to the relay named by SMTP_URL.

SMTP_URL forms: smtp://host:port (plain), smtp://user:pass@host:587?starttls=1, smtps://host:465.
Attachments are (filename, data, mimetype) triples, e.g. ("r.xlsx", b"...", "application/vnd...sheet")."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Iterable, Optional
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app


class SmtpRefused(Exception):
    """The relay refused the message for good (bad recipient): final, never retried."""


def send_mail(to: str, subject: str, body: str, *, message_id: Optional[str] = None,
              smtp_url: Optional[str] = None, sender: Optional[str] = None,
              attachments: Iterable[tuple[str, bytes, str]] = ()) -> None:
    config = current_app.config
    url = urlsplit(smtp_url or config["SMTP_URL"])
    timeout = config.get("MESSAGING_HTTP_TIMEOUT_S", 15)
    msg = EmailMessage()
    msg["From"] = sender or config["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(body)
    for filename, data, mimetype in attachments:
        maintype, _, subtype = (mimetype or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    host, port = url.hostname or "127.0.0.1", url.port
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port or 465, timeout=timeout)
    else:
        smtp = smtplib.SMTP(host, port or 25, timeout=timeout)
    with smtp:
        if url.scheme == "smtp" and parse_qs(url.query).get("starttls", ["0"])[0] in ("1", "true", "yes"):
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        try:
            smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise SmtpRefused(str(exc)) from exc
