"""Form fields shared by the admin screens (Flask-AppBuilder model views)."""
from __future__ import annotations

import enum

from flask_appbuilder.fieldwidgets import Select2Widget
from wtforms import SelectField
from wtforms.validators import InputRequired


def enum_value_field(label: str, enum_class: type[enum.Enum], description: str = "") -> SelectField:
    """A select over an enum stored by its values (`values_callable`), e.g. "per job".

    FAB's own enum field looks members up by name and fails on such columns; this one offers
    and accepts the values and hands the model the enum member."""

    def coerce(value):
        return value if isinstance(value, enum_class) else enum_class(value)

    return SelectField(
        label, choices=[(member.value, member.value.capitalize()) for member in enum_class], coerce=coerce,
        validators=[InputRequired()], widget=Select2Widget(), description=description,
    )
