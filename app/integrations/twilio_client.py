"""Thin wrapper around the `twilio` SDK: a client from config (base URL overridable for a local
stand-in of Twilio's API), webhook signature checks, and media downloads with Twilio auth."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

__all__ = ["TwilioRestException", "make_client", "signature_is_valid", "download", "rebase", "whatsapp_address"]


def rebase(url: str, base_url: Optional[str]) -> str:
    """Point a *.twilio.com URL at `base_url` (scheme + host + port), keeping path and query."""
    if not base_url:
        return url
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith("twilio.com"):
        return url
    base = urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment))


class RebasedHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending every *.twilio.com request to another base URL."""

    def __init__(self, base_url: Optional[str], timeout: Optional[float] = None):
        super().__init__(timeout=timeout)
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):
        return super().request(method, rebase(url, self.base_url), *args, **kwargs)


def make_client() -> Client:
    config = current_app.config
    if not config.get("TWILIO_ACCOUNT_SID") or not config.get("TWILIO_AUTH_TOKEN"):
        raise RuntimeError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set to send WhatsApp messages")
    http_client = RebasedHttpClient(config.get("TWILIO_API_BASE_URL"), timeout=config["MESSAGING_HTTP_TIMEOUT_S"])
    return Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"], http_client=http_client)


def whatsapp_address(e164: str) -> str:
    return e164 if e164.startswith("whatsapp:") else f"whatsapp:{e164}"


def signature_is_valid(path_and_query: str, params: dict, signature: Optional[str]) -> bool:
    """Twilio's X-Twilio-Signature over PUBLIC_BASE_URL + path and the POSTed form params."""
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not token or not signature:
        return False
    url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path_and_query
    return RequestValidator(token).validate(url, params, signature)


class MediaRejected(Exception):
    """The attachment is of a forbidden type or too large: final, never retried."""


def download(url: str, *, allowed_types: tuple[str, ...], max_bytes: int) -> tuple[bytes, str]:
    """Fetch a media URL with Twilio basic auth; (content, content type). Network/5xx errors raise
    requests exceptions (worth a retry); a forbidden type or size raises MediaRejected."""
    config = current_app.config
    response = requests.get(
        rebase(url, config.get("TWILIO_API_BASE_URL")),
        auth=(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"]),
        stream=True, timeout=config["MESSAGING_HTTP_TIMEOUT_S"],
    )
    with response:
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise MediaRejected(f"the provider answered {response.status_code}")
        response.raise_for_status()
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in allowed_types:
            raise MediaRejected(f"type {content_type or 'unknown'} is not allowed")
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise MediaRejected(f"{int(length)} bytes is over the {max_bytes} byte limit")
        chunks, total = [], 0
        for chunk in response.iter_content(64 * 1024):
            total += len(chunk)
            if total > max_bytes:  # a missing or lying Content-Length
                raise MediaRejected(f"over the {max_bytes} byte limit")
            chunks.append(chunk)
    return b"".join(chunks), content_type
