"""One marshmallow schema per hand-written action's input: types, lengths (from the columns) and ranges.

`load_input(Schema)` reads the JSON body (or a form post) and returns the checked dict, or raises
InvalidInput (a 400 `{"message"}` through `service_errors`). Unknown fields are refused.
"""
from __future__ import annotations

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.services import InvalidInput


def describe_errors(message) -> str:
    """Marshmallow's {field: [errors]} as one sentence a client can show."""
    if isinstance(message, dict):
        return "; ".join(
            f"{field}: {describe_errors(errors)}" if field != "_schema" else describe_errors(errors)
            for field, errors in message.items()
        )
    if isinstance(message, (list, tuple)):
        return " ".join(describe_errors(m) for m in message)
    return str(message)


ID = validate.Range(min=1, max=2**31 - 1)
TEXT_MAX = 10_000  # a sane bound for Text columns (notes, bodies)


def text(max_len: int = TEXT_MAX, **kw):
    """A string field: marshmallow refuses dicts, lists and numbers, so nothing is stored as "{'a': 1}"."""
    kw.setdefault("validate", validate.Length(max=max_len))
    kw.setdefault("allow_none", True)
    return fields.String(**kw)


class ActionSchema(Schema):
    class Meta:
        unknown = RAISE


class AlertInput(ActionSchema):
    group = text(50, required=True, allow_none=False, validate=validate.Length(min=1, max=50))
    kind = text(40, required=True, allow_none=False, validate=validate.Length(min=1, max=40))
    title = text(200, required=True, allow_none=False, validate=validate.Length(min=1, max=200))
    body = text()
    ref_type = text(40)
    ref_id = fields.Raw(allow_none=True, validate=lambda v: isinstance(v, (str, int)) and not isinstance(v, bool) and len(str(v)) <= 60)
    dedupe_key = text(120)


class ResolveInput(ActionSchema):
    resolution = text()


class WalletActionInput(ActionSchema):
    customer_id = fields.Integer(required=True, strict=True, validate=ID)
    # amounts travel as strings (or numbers) and become Decimal in the service, never float
    amount = fields.Raw(required=True, validate=lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool) and len(str(v)) <= 20)
    reason = text(500)
    reference = text(80)
    currency = fields.String(allow_none=True, validate=validate.Regexp(r"^[A-Za-z]{3}$", error="an ISO 4217 code"))


class ReverseInput(ActionSchema):
    reason = text(500)


class CustomerInput(ActionSchema):
    name = text(120)
    phone = text(40)  # one number; the extra ones go in `phones`
    phones = fields.List(text(40), allow_none=True)
    email = text(254)
    address = text()
    notes = text()
    tags = fields.List(fields.Raw(), allow_none=True)
    vehicles = fields.List(fields.Dict(), allow_none=True)
    active = fields.Boolean(truthy={True}, falsy={False})  # false archives the customer


class WebhookSourceInput(ActionSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,39}$", error="lower-case letters, digits, - and _ (up to 40)"))
    name = text(120, required=True, allow_none=False, validate=validate.Length(min=1, max=120))
    group = fields.Integer(required=True, strict=True, validate=ID)
    active = fields.Boolean(truthy={True}, falsy={False})


class WebhookSourceEditInput(ActionSchema):
    name = text(120, allow_none=False, validate=validate.Length(min=1, max=120))
    group = fields.Integer(strict=True, validate=ID)
    active = fields.Boolean(truthy={True}, falsy={False})


def ref_id(**kw):
    """An id given as a number (JSON) or as digits (a form post)."""
    messages = {"invalid": "must be a whole number", "null": "must be a whole number", "required": "is required (a whole number)"}
    kw.setdefault("allow_none", not kw.get("required", False))
    return fields.Integer(validate=validate.Range(min=1, max=2**31 - 1, error="must be a whole number from 1"),
                          error_messages=messages, **kw)


def _money_shape(value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float)) or len(str(value)) > 20):
        raise ValidationError("must be a number, e.g. \"1500.00\"")


def amount(**kw):
    """Money travels as a string or a number and becomes Decimal in the service (its rules and messages), never float."""
    kw.setdefault("allow_none", True)
    return fields.Raw(validate=_money_shape, **kw)


def flag(**kw):
    return fields.Boolean(allow_none=True, **kw)


def words(max_len: int = 200, **kw):
    """A list of short strings, or the same as one comma-separated string (form posts)."""
    def ok(value):
        if isinstance(value, str):
            return len(value) <= TEXT_MAX
        return isinstance(value, list) and len(value) <= 200 and all(isinstance(v, str) and len(v) <= max_len for v in value)
    return fields.Raw(allow_none=True, validate=ok, **kw)


# --- support (calls, tickets, requests) ---------------------------------------------------
class CallInput(ActionSchema):
    caller_phone = text(40, required=True, allow_none=False)
    category = text(30, required=True, allow_none=False)
    summary = text()
    charger_ref = text(60)
    outcome = text(30)
    resolution = text()
    status = text(20)
    assignee_id = ref_id()
    department_id = ref_id()
    customer_id = ref_id()


class CallEditInput(ActionSchema):
    category = text(30, allow_none=False)
    summary = text()
    charger_ref = text(60)
    outcome = text(30)
    resolution = text()
    status = text(20)
    assignee_id = ref_id()
    department_id = ref_id()
    customer_id = ref_id()


class TicketInput(ActionSchema):
    title = text(200, required=True, allow_none=False, validate=validate.Length(min=1, max=200))
    description = text()
    priority = text(10)
    category = text(30)
    customer_id = ref_id()
    charger_ref = text(60)
    assignee_id = ref_id()
    department_id = ref_id()


class TicketEditInput(TicketInput):
    title = text(200, allow_none=False, validate=validate.Length(min=1, max=200))


class TransitionInput(ActionSchema):
    to = text(40, required=True, allow_none=False)
    note = text()


class NoteInput(ActionSchema):
    body = text(required=True, allow_none=False, validate=validate.Length(min=1, max=TEXT_MAX))


class RequestInput(ActionSchema):
    channel = text(20)
    customer_id = ref_id()
    phone = text(40)
    source_ref = text(120)
    text = text(required=True, allow_none=False, validate=validate.Length(min=1, max=TEXT_MAX))  # last: it shadows text()


class RequestEditInput(ActionSchema):
    assignee_id = ref_id()
    department_id = ref_id()
    priority = text(10)
    status = text(20)


# --- messaging ---------------------------------------------------------------------------------
class MessageInput(ActionSchema):
    idempotency_key = text(120, required=True, allow_none=False, validate=validate.Length(min=1, max=120))
    channel = fields.String(validate=validate.OneOf(("whatsapp", "email")))
    to = text(254)
    subject = text(200)
    body = text(4096)
    template = text(60)
    variables = fields.Dict(keys=fields.String(validate=validate.Length(max=60)), values=text(1024, allow_none=False),
                            allow_none=True)
    customer_id = ref_id()
    conversation_id = ref_id()


# --- installations (leads, job actions, payouts) ------------------------------------------------
class LeadInput(ActionSchema):
    oem_ref = text(80, required=True, allow_none=False, validate=validate.Length(min=1, max=80))
    customer_name = text(120, required=True, allow_none=False, validate=validate.Length(min=1, max=120))
    phone = text(40, required=True, allow_none=False)
    email = text(254)
    address = text()
    district = text(60)
    vehicle_model = text(80)
    charger_type = text(40)
    notes = text()
    oem_id = ref_id()
    oem = text(80)


class JobActionInput(ActionSchema):
    kind = fields.String(allow_none=True, validate=validate.OneOf(("survey", "installation")))


def _job_action(name: str, **declared) -> type[Schema]:
    return type(f"Job{name.title().replace('_', '')}Input", (JobActionInput,), declared)


JOB_ACTION_INPUTS: dict[str, type[Schema]] = {
    "transition": _job_action("transition", to=text(40, required=True, allow_none=False), comment=text(),
                              required_work=words()),
    "call": _job_action("call", purpose=text(60), outcome=text(60), note=text()),
    "send_upload_link": _job_action("send_upload_link"),
    "customer_details": _job_action("customer_details", address=text(), latitude=fields.Float(allow_none=True, validate=validate.Range(-90, 90)),
                                    longitude=fields.Float(allow_none=True, validate=validate.Range(-180, 180)),
                                    electrician_name=text(120), electrician_phone=text(40)),
    "schedule": _job_action("schedule", date=text(10), slot=text(20)),
    "assign": _job_action("assign", team_id=ref_id(required=True)),
    "backup": _job_action("backup", team_id=ref_id(required=True)),
    "team_unavailable": _job_action("team_unavailable", reason=text(500)),
    "priority_reschedule": _job_action("priority_reschedule", date=text(10), slot=text(20)),
    "survey_report": _job_action("survey_report", checklist=fields.Dict(keys=fields.String(validate=validate.Length(max=60)),
                                                                        values=text(500, allow_none=False), allow_none=True),
                                 notes=text(), main_supply_phase=text(60), sanctioned_load_kw=text(20), earthing_present=text(20),
                                 cable_run_m=text(20), mounting_surface=text(60), parking_covered=text(20),
                                 network_signal=text(60), notes_for_installers=text()),
    "review": _job_action("review", site_ready=flag(), required_work=words(), note=text()),
    "site_ready": _job_action("site_ready", note=text()),
    "bom": _job_action("bom", lines=fields.Dict(keys=fields.String(validate=validate.Length(max=60)), values=fields.Raw(
        validate=lambda v: isinstance(v, (str, int)) and not isinstance(v, bool) and len(str(v)) <= 10)), bom=words()),
    "request_check": _job_action("request_check"),
    "check_materials": _job_action("check_materials", location_id=ref_id(required=True)),
    "allocate": _job_action("allocate", team_id=ref_id()),
    "local_procurement": _job_action("local_procurement", note=text()),
    "vendor_purchase": _job_action("vendor_purchase", vendor_name=text(120), items=text(), amount=amount(), team_id=ref_id(),
                                   upi_id=text(120), bank_details=text(500)),
    "pay_vendor": _job_action("pay_vendor", purchase_id=ref_id(required=True), reference=text(120)),
    "installation_report": _job_action("installation_report", charger_serial=text(60), ocpp_identity=text(48),
                                       demo_given=flag(), notes=text()),
    "signoff": _job_action("signoff", signed_by=text(120)),
    "closure_pack": _job_action("closure_pack"),
    "payable": _job_action("payable"),
    "upload": _job_action("upload", file_kind=text(40)),
}


class PayoutReleaseInput(ActionSchema):
    team_id = ref_id(required=True)
    reference = text(120)


# --- wallet top-ups -------------------------------------------------------------------------------
class TopUpInput(ActionSchema):
    # shapes and sizes here; what is missing or refused is said by the service (top_up_wallet)
    customer_id = ref_id()
    amount = amount()
    receipt_no = text(80)
    note = text(500)


class RejectInput(ActionSchema):
    reason = text(500)


def input_problem(schema: type[Schema], data=None) -> str | None:
    """What is wrong with the body for `schema`, or None (for FAB's generic create/update)."""
    try:
        load_input(schema, data)
    except InvalidInput as exc:
        return exc.message
    return None


def load_input(schema: type[Schema], data=None) -> dict:
    if data is None:
        if request.is_json or not request.form:
            data = request.get_json(silent=True)
            if data is None and not request.get_data():
                data = {}
        else:
            data = request.form.to_dict()
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object")
    try:
        return schema().load(data)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(exc.messages)) from None
