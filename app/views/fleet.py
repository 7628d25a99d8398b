"""Fleet screens: firmware catalogue and campaigns, SSH hosts and jobs, diagnostics files, the charger's error log;
and the charger-facing file endpoints (firmware download, diagnostics upload), authorised by their signed URL."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request, send_file
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.extensions import appbuilder, csrf, db
from app.models.fleet import DiagnosticsFile, Firmware, FirmwareCampaign, FirmwareStatusEvent, SshHost, SshJob
from app.services import ServiceError
from app.services import chargers
from app.services import diagnostics, firmware, ssh_reboot
from app.views.base import ReadOnlyModelView, ResourceModelView

CATEGORY = "Fleet"

# --- what chargers call: no session, no CSRF; the signed, expiring token is the key ---------------
charger_files = Blueprint("charger_files", __name__)


@charger_files.get("/fleet/firmware/<token>/<name>")
def download_firmware(token: str, name: str):
    try:
        item, path = firmware.firmware_for_download(db.session, token)
    except ServiceError as exc:
        return Response(exc.message, status=exc.status, mimetype="text/plain")
    response = send_file(path, mimetype="application/octet-stream", download_name=name, conditional=True)
    response.headers["X-Checksum-SHA256"] = item.sha256
    return response


@charger_files.route("/fleet/diagnostics/<token>", methods=["PUT", "POST"])
@charger_files.route("/fleet/diagnostics/<token>/<name>", methods=["PUT", "POST"])
def upload_diagnostics(token: str, name: str | None = None):
    limit = current_app.config["DIAGNOSTICS_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return Response(f"larger than {limit} bytes", status=413, mimetype="text/plain")
    try:
        diagnostics.record_for_token(db.session, token)  # refuse a bad link before reading the body
        upload = request.files.get("file") if request.method == "POST" and request.files else None
        data = upload.read(limit + 1) if upload else request.stream.read(limit + 1)
        filename = (upload.filename if upload else None) or name
        record = diagnostics.store_upload(db.session, token, filename, data)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        return Response(exc.message, status=exc.status, mimetype="text/plain")
    return Response(f"stored {record.size} bytes\n", status=201, mimetype="text/plain")


# --- screens -----------------------------------------------------------------------------------------
def _refusal_as_form_error(rule, item) -> None:
    try:
        rule(db.session, item)
    except ServiceError as exc:
        raise ValueError(exc.message) from exc


class FirmwareView(ReadOnlyModelView):
    datamodel = SQLAInterface(Firmware)
    class_permission_name = "Firmware"
    list_columns = ["vendor", "model", "version", "size", "sha256", "uploaded_by", "created_at"]
    show_columns = list_columns + ["notes", "original_name"]
    search_columns = ["vendor", "model", "version"]
    base_order = ("created_at", "desc")
    list_template = "fleet/firmware_list.html"


class FirmwareCampaignView(ReadOnlyModelView):
    datamodel = SQLAInterface(FirmwareCampaign)
    class_permission_name = "FirmwareCampaign"
    list_columns = ["id", "firmware", "status", "targeting", "batch_size", "paused_reason", "created_by", "created_at"]
    show_columns = list_columns + ["parallel_batches", "window_start_hour", "window_end_hour", "max_retries",
                                   "failure_threshold", "finished_at"]
    search_columns = ["status", "created_at"]
    base_order = ("id", "desc")
    list_template = "fleet/campaign_list.html"

    @expose("/campaign/<int:campaign_id>")
    @has_access
    def campaign(self, campaign_id: int):
        item = db.session.get(FirmwareCampaign, campaign_id)
        if item is None:
            abort(404)
        can_move = appbuilder.sm.has_access("can_write", "FirmwareCampaign")
        return self.render_template("fleet/campaign.html", campaign=item, can_move=can_move)


FirmwareCampaignView.method_permission_name = {**FirmwareCampaignView.method_permission_name, "campaign": "read"}


class FirmwareStatusEventView(ReadOnlyModelView):
    datamodel = SQLAInterface(FirmwareStatusEvent)
    class_permission_name = "FirmwareStatusEvent"
    list_columns = ["received_at", "charger", "status", "attempt", "at"]
    search_columns = ["charger", "status", "at"]
    base_order = ("id", "desc")


class SshHostView(ResourceModelView):
    datamodel = SQLAInterface(SshHost)
    class_permission_name = "SshHost"
    list_columns = ["name", "charger", "site", "host", "port", "username", "reboot_command"]
    add_columns = edit_columns = ["name", "charger", "site", "host", "port", "username", "host_key", "key_secret",
                                  "reboot_command", "timeout_s"]
    show_columns = add_columns
    label_columns = {"host_key": "Pinned host key", "key_secret": "Private key (file:/path or env:NAME)",
                     "timeout_s": "Timeout (s)"}
    description_columns = {
        "host_key": "The server's public key as in a .pub file: 'ssh-ed25519 AAAA...'. No other key is accepted.",
        "key_secret": "Where the private key is kept, outside the application: file:/etc/chargeops/site.key or env:VAR",
        "charger": "For a charger's own Linux; leave empty and give the site for a site controller",
    }

    def pre_add(self, item):
        _refusal_as_form_error(ssh_reboot.check_host, item)

    def pre_update(self, item):
        _refusal_as_form_error(ssh_reboot.check_host, item)


class SshJobView(ReadOnlyModelView):
    datamodel = SQLAInterface(SshJob)
    class_permission_name = "SshReboot"
    list_columns = ["created_at", "charger", "host", "status", "exit_code", "error", "requested_by", "finished_at"]
    show_columns = list_columns + ["job_id", "output", "started_at"]
    search_columns = ["charger", "host", "status", "created_at"]
    base_order = ("id", "desc")


class DiagnosticsFileView(ReadOnlyModelView):
    datamodel = SQLAInterface(DiagnosticsFile)
    class_permission_name = "DiagnosticsFile"
    list_columns = ["created_at", "charger", "status", "original_name", "size", "requested_by", "uploaded_at"]
    show_columns = list_columns + ["sha256", "command_id"]
    search_columns = ["charger", "status", "created_at"]
    base_order = ("id", "desc")

    @expose("/file/<cid>/<int:file_id>")
    @has_access
    def file(self, cid: str, file_id: int):
        try:
            record, path = diagnostics.file_for_download(db.session, cid, file_id)
        except ServiceError:
            abort(404)
        return send_file(path, as_attachment=True, download_name=record.original_name)


DiagnosticsFileView.method_permission_name = {**DiagnosticsFileView.method_permission_name, "file": "read"}


class ErrorLogView(BaseView):
    """A charger's fault episodes, filtered by code, dates or open ones, and exported as CSV."""

    route_base = "/chargers/error-log"
    class_permission_name = "ChargerFault"
    method_permission_name = {"log": "read"}

    @expose("/<cid>")
    @has_access
    def log(self, cid: str):
        args = request.args
        try:
            charger = chargers.get_charger(db.session, cid)
            faults = diagnostics.fault_log(
                db.session, cid, error_code=args.get("error_code") or None,
                since=diagnostics.parse_day(args.get("since"), "since"),
                until=diagnostics.parse_day(args.get("until"), "until"), open_only=args.get("open") == "1")
        except ServiceError as exc:
            return Response(exc.message, status=exc.status, mimetype="text/plain")
        if args.get("format") == "csv":
            return Response(diagnostics.fault_log_csv(cid, faults), mimetype="text/csv", headers={
                "Content-Disposition": f'attachment; filename="error-log-{cid}.csv"'})
        return self.render_template("fleet/error_log.html", charger=charger, faults=faults, args=args)


def charger_page_panels(session, charger) -> dict:
    """What the charger page shows of fleet operations, and which of its buttons this person may press."""
    sm = appbuilder.sm
    return {
        "diagnostics_files": diagnostics.files_of_charger(session, charger.id),
        "ssh_jobs": ssh_reboot.recent_jobs(session, charger.id),
        "firmware_history": firmware.charger_firmware_history(session, charger.id, limit=30),
        "firmware_choices": firmware.list_firmware(session, charger.vendor, charger.model) if charger.vendor else
        firmware.list_firmware(session),
        "can": {
            "command": sm.has_access("can_write", "ChargerCommand"),
            "diagnostics": sm.has_access("can_write", "DiagnosticsFile"),
            "firmware": sm.has_access("can_write", "FirmwareCampaign"),
            "ssh_reboot": sm.has_access("can_write", "SshReboot"),
            "ssh_jobs": sm.has_access("can_read", "SshReboot"),
            "firmware_history": sm.has_access("can_read", "FirmwareStatusEvent"),
            "error_log": sm.has_access("can_read", "ChargerFault"),
            "download": sm.has_access("can_read", "DiagnosticsFile"),
        },
    }


def register(appbuilder) -> None:
    appbuilder.add_view(FirmwareView, "Firmware", label="Firmware catalogue", icon="fa-microchip", category=CATEGORY)
    appbuilder.add_view(FirmwareCampaignView, "FirmwareCampaign", label="Firmware campaigns", icon="fa-rocket",
                        category=CATEGORY)
    appbuilder.add_view(FirmwareStatusEventView, "FirmwareStatusEvent", label="Firmware history", icon="fa-history",
                        category=CATEGORY)
    appbuilder.add_view(DiagnosticsFileView, "DiagnosticsFile", label="Diagnostics files", icon="fa-file-archive-o",
                        category=CATEGORY)
    appbuilder.add_view(SshHostView, "SshHost", label="SSH hosts", icon="fa-server", category=CATEGORY)
    appbuilder.add_view(SshJobView, "SshReboot", label="SSH reboots", icon="fa-power-off", category=CATEGORY)
    appbuilder.add_view_no_menu(ErrorLogView)
    app = current_app._get_current_object()
    if "charger_files" not in app.blueprints:
        app.register_blueprint(charger_files)
    csrf.exempt(charger_files)
