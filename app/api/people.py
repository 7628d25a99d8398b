"""People over REST: departments, team members, field teams."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from marshmallow import ValidationError, validate

from app.api.base import ResourceApi
from app.api.installations import OwnTeamScope
from app.models.people import Department, FieldTeam, TeamMember

def RATE_RANGE(value) -> None:
    """A rate is from 0 to 100,000,000,000 (a plain function: apispec would print a Range's bounds as
    strings for a Decimal field, which is not valid OpenAPI)."""
    if value is not None and not 0 <= value <= 10**11:
        raise ValidationError("a rate is from 0 to 100,000,000,000")


class DepartmentApi(ResourceApi):
    resource_name = "departments"
    class_permission_name = "Department"
    datamodel = SQLAInterface(Department)
    list_columns = ["id", "name", "description", "capabilities.code"]
    show_columns = list_columns
    add_columns = edit_columns = ["name", "description"]


class TeamMemberApi(ResourceApi):
    resource_name = "members"
    class_permission_name = "TeamMember"
    # people are deactivated (`active: false`), never deleted: their calls, tickets and notes name them
    include_route_methods = {"get", "get_list", "info", "post", "put"}
    datamodel = SQLAInterface(TeamMember)
    list_columns = [
        "id", "user.username", "user.first_name", "user.last_name", "department.name",
        "phone", "whatsapp", "active", "last_activity_at",
    ]
    show_columns = list_columns
    add_columns = edit_columns = ["user", "department", "phone", "whatsapp", "active"]


class FieldTeamApi(ResourceApi):
    resource_name = "field_teams"
    class_permission_name = "FieldTeam"
    datamodel = SQLAInterface(FieldTeam)
    list_columns = [
        "id", "name", "lead_phone", "service_areas", "can_survey", "can_install",
        "payment_schedule", "survey_rate", "installation_rate", "active",
    ]
    show_columns = list_columns
    add_columns = edit_columns = list_columns[1:]
    base_filters = [["id", OwnTeamScope, None]]
    validators_columns = {
        "survey_rate": RATE_RANGE, "installation_rate": RATE_RANGE, "name": validate.Length(min=1, max=80),
    }


def register(appbuilder) -> None:
    for api in (DepartmentApi, TeamMemberApi, FieldTeamApi):
        appbuilder.add_api(api)
