"""One marshmallow schema per hand-written action's input: types, lengths (from the columns) and ranges.

`load_input(Schema)` reads the JSON body (or a form post) and returns the checked dict, or raises
InvalidInput (a 400 `{"message"}` through `service_errors`). Unknown fields are refused.
"""
from __future__ import annotations

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from app.services import InvalidInput
from app.api.base import describe_errors

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
