"""Fleet operations over REST: firmware catalogue and campaigns, diagnostics requests, SSH reboot (api-contract v1.1)."""
from __future__ import annotations

from flask import current_app, g, request
from flask_appbuilder.api import expose, safe
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name, protect
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.api.base import ActionApi, ResourceApi, describe_errors, service_errors
from app.extensions import db
from app.models.fleet import SshHost
from app.services import InvalidInput
from app.services import chargers_commands
from app.services import diagnostics, firmware, ssh_reboot


class FirmwareUploadSchema(Schema):
    vendor = fields.String(required=True, validate=validate.Length(1, 40))
    model = fields.String(required=True, validate=validate.Length(1, 40))
    version = fields.String(required=True, validate=validate.Length(1, 60))
    notes = fields.String(load_default=None)


class CampaignSchema(Schema):
    firmware_id = fields.Integer(required=True, strict=True)
    charger_cids = fields.List(fields.String(validate=validate.Length(1, 48)), load_default=None,
                               validate=validate.Length(max=100000))
    vendor = fields.String(load_default=None, validate=validate.Length(1, 40))
    model = fields.String(load_default=None, validate=validate.Length(1, 40))
    site = fields.String(load_default=None, validate=validate.Length(1, 120))
    current_version = fields.String(load_default=None, validate=validate.Length(1, 60))
    batch_size = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10000))
    parallel_batches = fields.Integer(load_default=1, strict=True, validate=validate.Range(1, 100))
    window_start_hour = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, 23))
    window_end_hour = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, 24))
    max_retries = fields.Integer(load_default=2, strict=True, validate=validate.Range(0, 10))
    failure_threshold = fields.Float(load_default=0.2, validate=validate.Range(0, 1))

    @validates_schema
    def one_way_of_targeting(self, data, **_):
        if data.get("charger_cids") is not None and any(data.get(k) for k in ("vendor", "model", "site", "current_version")):
            raise ValidationError("target by charger_cids or by vendor/model/site/current_version, not both")


class CampaignMoveSchema(Schema):
    move = fields.String(required=True, validate=validate.OneOf(tuple(firmware.CAMPAIGN_MOVES)))


def load(schema: Schema, data) -> dict:
    try:
        return schema.load(data if data is not None else {})
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.messages))


class FirmwareApi(ActionApi):
    """`GET/POST /api/v1/firmware/`: the catalogue (multipart vendor, model, version, notes, file)."""

    resource_name = "firmware"
    class_permission_name = "Firmware"
    method_permission_name = {"catalogue": "read", "add": "write"}

    @expose("/", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def catalogue(self):
        found = firmware.list_firmware(db.session, request.args.get("vendor"), request.args.get("model"))
        return self.response(200, count=len(found), result=[firmware.firmware_json(f) for f in found])

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def add(self):
        data = load(FirmwareUploadSchema(), request.form.to_dict())
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInput("file is required (multipart)")
        item = firmware.add_firmware(db.session, data["vendor"], data["model"], data["version"], data["notes"],
                                     upload.filename, upload.read(), g.user.id)
        db.session.commit()
        return self.response(201, **firmware.firmware_json(item))


class FirmwareCampaignApi(ActionApi):
    """`POST /api/v1/firmware/campaigns` -> 201 {"id"}; `GET .../campaigns/<id>`; pause/resume/cancel."""

    resource_name = "firmware"
    class_permission_name = "FirmwareCampaign"
    method_permission_name = {"create": "write", "show": "read", "move": "write"}

    @expose("/campaigns", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def create(self):
        data = load(CampaignSchema(), request.get_json(silent=True))
        campaign = firmware.create_campaign(db.session, data.pop("firmware_id"), g.user.id, **data)
        db.session.commit()
        return self.response(201, id=campaign.id, status=campaign.status)

    @expose("/campaigns/<int:campaign_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def show(self, campaign_id: int):
        return self.response(200, **firmware.campaign_json(db.session, firmware.get_campaign(db.session, campaign_id)))

    @expose("/campaigns/<int:campaign_id>/<move>", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def move(self, campaign_id: int, move: str):
        data = load(CampaignMoveSchema(), {"move": move})
        campaign = firmware.move_campaign(db.session, campaign_id, data["move"], g.user.id)
        db.session.commit()
        return self.response(200, id=campaign.id, status=campaign.status)


class DiagnosticsApi(ActionApi):
    """`POST /api/v1/chargers/<cid>/diagnostics` -> 202 {"command_id", "diagnostics_id"}: GetDiagnostics to our URL."""

    resource_name = "chargers"
    class_permission_name = "DiagnosticsFile"
    method_permission_name = {"request_file": "write"}

    @expose("/<cid>/diagnostics", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def request_file(self, cid: str):
        record, command = diagnostics.request_diagnostics(db.session, cid, g.user.id)
        db.session.commit()
        if command.status == "Pending":
            chargers_commands.publish_command(command.command_id, wait=current_app.config["CHARGER_PUBLISH_WAIT_IN_REQUEST"])
        return self.response(202, command_id=command.command_id, diagnostics_id=record.id, status=command.status)


class SshRebootApi(ActionApi):
    """`POST /api/v1/chargers/<cid>/ssh-reboot` -> 202 {"job_id"} (CPO, Admin)."""

    resource_name = "chargers"
    class_permission_name = "SshReboot"
    method_permission_name = {"reboot": "write"}

    @expose("/<cid>/ssh-reboot", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def reboot(self, cid: str):
        job = ssh_reboot.request_reboot(db.session, cid, g.user.id)
        db.session.commit()
        return self.response(202, job_id=job.job_id, status=job.status)


class SshJobApi(ActionApi):
    """`GET /api/v1/ssh-jobs/<job_id>` -> {"status","exit_code","output"}."""

    resource_name = "ssh-jobs"
    class_permission_name = "SshReboot"
    method_permission_name = {"show": "read"}

    @expose("/<job_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @service_errors
    def show(self, job_id: str):
        return self.response(200, **ssh_reboot.job_json(ssh_reboot.get_job(db.session, job_id)))


class SshHostApi(ResourceApi):
    """The SSH host registry: `/api/v1/ssh-hosts/` (the private key is a reference, never the key)."""

    resource_name = "ssh-hosts"
    class_permission_name = "SshHost"
    datamodel = SQLAInterface(SshHost)
    include_route_methods = {"get_list", "get", "post", "put", "info"}
    list_columns = ["id", "name", "charger.cid", "site", "host", "port", "username", "host_key", "key_secret",
                    "reboot_command", "timeout_s"]
    show_columns = list_columns
    add_columns = edit_columns = ["name", "charger", "site", "host", "port", "username", "host_key", "key_secret",
                                  "reboot_command", "timeout_s"]

    def pre_add(self, item: SshHost) -> None:
        ssh_reboot.check_host(db.session, item)

    def pre_update(self, item: SshHost) -> None:
        ssh_reboot.check_host(db.session, item)

    @service_errors
    def post_headless(self):
        return super().post_headless()

    @service_errors
    def put_headless(self, pk):
        return super().put_headless(pk)


def register(appbuilder) -> None:
    for api in (FirmwareApi, FirmwareCampaignApi, DiagnosticsApi, SshRebootApi, SshJobApi, SshHostApi):
        appbuilder.add_api(api)
