"""People over REST: departments, team members, field teams."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.api.base import ResourceApi
from app.models.people import Department, FieldTeam, TeamMember


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


def register(appbuilder) -> None:
    for api in (DepartmentApi, TeamMemberApi, FieldTeamApi):
        appbuilder.add_api(api)
