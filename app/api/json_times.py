"""The generic CRUD APIs write date-times in the contracts' one format (`2026-11-21T08:15:00Z`, as `iso_utc`).

Flask-AppBuilder builds each ModelRestApi's marshmallow schemas with marshmallow-sqlalchemy, whose DateTime
fields dump `isoformat()` (`2026-11-21T08:15:00.123456`, no zone). `ContractSchemaConverter` is FAB's own
converter with one change: DateTime columns get `UtcDateTime`, which dumps `iso_utc` and still reads any
ISO-8601 input (with `Z`, an offset, or none: naive is UTC, as stored).
"""
from __future__ import annotations

from datetime import timezone

from flask_appbuilder.api.convert import Model2SchemaConverter
from marshmallow import fields

from app.services import iso_utc


class UtcDateTime(fields.DateTime):
    def _serialize(self, value, attr, obj, **kwargs):
        return iso_utc(value)

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


class ContractSchemaConverter(Model2SchemaConverter):
    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        field = super()._column2field(datamodel, column, nested=nested, parent_schema_name=parent_schema_name)
        if type(field) is not fields.DateTime:  # noqa: E721 (exactly FAB's own field, not a subclass)
            return field
        contract = UtcDateTime(required=field.required, allow_none=field.allow_none, validate=field.validators,
                               dump_only=field.dump_only, load_only=field.load_only, metadata=field.metadata)
        contract.unique = getattr(field, "unique", False)
        return contract
