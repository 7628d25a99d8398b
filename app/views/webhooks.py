"""Admin's screens for signed webhook sources and what they delivered."""
from __future__ import annotations

from flask import flash, redirect
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.extensions import db
from app.models.webhooks import WebhookDelivery, WebhookSource
from app.services import webhooks
from app.views.base import ReadOnlyModelView, ResourceModelView


class WebhookSourceView(ResourceModelView):
    datamodel = SQLAInterface(WebhookSource)
    class_permission_name = "WebhookSource"
    # a source with deliveries is deactivated (the `active` box), never deleted
    include_route_methods = {"list", "show", "add", "edit", "download", "action", "action_post"}
    list_columns = ["code", "name", "group", "active", "created_at"]
    show_columns = list_columns
    add_columns = ["code", "name", "group", "active"]
    edit_columns = ["name", "group", "active"]
    search_columns = ["code", "name", "group", "active"]
    description_columns = {
        "code": "The <source> of POST /api/v1/webhooks/<source>",
        "group": "The notification group its alerts go to",
    }

    def pre_add(self, item) -> None:
        item.secret = webhooks.new_secret()

    def post_add(self, item) -> None:
        flash(f"Secret of {item.code} (shown once): {item.secret}", "warning")

    @action("rotate_secret", "New secret", "Give the selected sources new secrets? The old ones stop working.", "fa-key",
            single=False)
    def rotate_secret(self, items):
        for item in items if isinstance(items, list) else [items]:
            item.secret = webhooks.new_secret()
            flash(f"New secret of {item.code} (shown once): {item.secret}", "warning")
        db.session.commit()
        return redirect(self.get_redirect())


class WebhookDeliveryView(ReadOnlyModelView):
    datamodel = SQLAInterface(WebhookDelivery)
    class_permission_name = "WebhookDelivery"
    list_columns = ["received_at", "source", "charger_cid", "alert_id", "processed_at"]
    show_columns = ["received_at", "sent_at", "source", "charger_cid", "alert_id", "processed_at", "body"]
    search_columns = ["source", "charger_cid", "received_at"]
    base_order = ("received_at", "desc")


def register(appbuilder) -> None:
    appbuilder.add_view(WebhookSourceView, "WebhookSource", label="Webhook sources", icon="fa-plug", category="Integrations")
    appbuilder.add_view(WebhookDeliveryView, "WebhookDelivery", label="Webhook deliveries", icon="fa-inbox",
                        category="Integrations")
