"""Signed webhooks (`POST /api/v1/webhooks/<source>`, contract v1.1) and the Admin's API of their sources."""
from __future__ import annotations

from flask import request
from flask_appbuilder.api import expose, protect
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name

from app.api.base import API_METHOD_PERMISSIONS, ActionApi, ResourceApi, service_errors
from app.api.schemas import WebhookSourceEditInput, WebhookSourceInput
from app.extensions import db
from app.models.webhooks import WebhookSource
from app.services import NotFound
from app.services import webhooks


class WebhooksApi(ActionApi):
    """No login: each source signs its bodies with its own secret (a JWT or API key is not a signature)."""

    resource_name = "webhooks"
    class_permission_name = "Webhook"

    @expose("/<string:source>", methods=["POST"])
    @service_errors
    def receive(self, source: str):
        """Receive a signed event from a registered source.
        ---
        post:
          description: >-
            The body is a JSON object with event, and optionally title, message and charger_cid, signed with
            X-ChargeOps-Signature (sha256=hex of HMAC-SHA256 of timestamp + "." + raw body, keyed by the source secret)
            and X-ChargeOps-Timestamp (unix seconds). It becomes an alert to the notification group of the source
            and, with a charger_cid, an entry in the message log of that charger.
          parameters:
          - in: path
            name: source
            required: true
            schema: {type: string}
          responses:
            202: {description: accepted}
            200: {description: 'a replay of an accepted body, nothing new is stored'}
            400: {description: 'signed but not an event'}
            401: {description: 'unsigned, forged or outside the 5-minute window'}
            404: {description: unknown source}
        """
        delivery, created = webhooks.receive_webhook(
            db.session, source, request.get_data(cache=True),
            timestamp=request.headers.get("X-ChargeOps-Timestamp"), signature=request.headers.get("X-ChargeOps-Signature"),
        )
        db.session.commit()
        if created:
            return self.response(202, id=delivery.id, message="accepted")
        return self.response(200, id=delivery.id, message="already received")


class WebhookSourcesApi(ResourceApi):
    """Admin's registry of webhook sources; a secret is shown when it is made (create, rotate), never listed."""

    resource_name = "webhook-sources"
    datamodel = SQLAInterface(WebhookSource)
    class_permission_name = "WebhookSource"
    include_route_methods = {"get", "get_list", "info", "post", "put", "rotate_secret"}
    method_permission_name = {**API_METHOD_PERMISSIONS, "rotate_secret": "write"}
    list_columns = show_columns = ["id", "code", "name", "group.code", "active", "created_at"]
    add_columns = ["code", "name", "group", "active"]
    edit_columns = ["name", "group", "active"]
    search_columns = ["code", "name", "active"]
    order_columns = ["id", "code", "name", "created_at"]

    def pre_add(self, item) -> None:
        item.secret = webhooks.new_secret()

    add_input = WebhookSourceInput
    edit_input = WebhookSourceEditInput

    def post_headless(self):
        response = super().post_headless()
        if response.status_code == 201:
            body = response.get_json()
            body["secret"] = db.session.get(WebhookSource, body["id"]).secret
            return self.response(201, **body)
        return response

    @expose("/<int:pk>/secret", methods=["POST"])
    @protect()
    @permission_name("rotate_secret")
    @service_errors
    def rotate_secret(self, pk: int):
        """A new secret for the source (the old one stops working at once); shown only in this answer."""
        source = db.session.get(WebhookSource, pk)
        if source is None:
            raise NotFound(f"no webhook source {pk}")
        source.secret = webhooks.new_secret()
        db.session.commit()
        return self.response(200, id=source.id, source=source.code, secret=source.secret)


def register(appbuilder) -> None:
    appbuilder.add_api(WebhooksApi)
    appbuilder.add_api(WebhookSourcesApi)
