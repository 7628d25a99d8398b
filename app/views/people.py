"""People screens: departments, team members, field teams, activity log."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms.validators import NumberRange

from app.api.installations import OwnTeamScope
from app.forms import enum_value_field
from app.models.people import ActivityLog, Capability, Department, FieldTeam, PaymentSchedule, TeamMember
from app.views.base import ReadOnlyModelView, ResourceModelView


class DepartmentView(ResourceModelView):
    datamodel = SQLAInterface(Department)
    class_permission_name = "Department"
    list_columns = ["name", "capabilities", "description"]
    add_columns = edit_columns = ["name", "description", "capabilities"]
    show_columns = ["name", "description", "capabilities"]


class TeamMemberView(ResourceModelView):
    datamodel = SQLAInterface(TeamMember)
    # people are deactivated (the `active` box), never deleted: their calls, tickets and notes name them
    include_route_methods = {"list", "show", "add", "edit", "download", "action", "action_post"}
    class_permission_name = "TeamMember"
    list_columns = ["user", "department", "phone", "whatsapp", "active", "last_activity_at"]
    add_columns = edit_columns = ["user", "department", "phone", "whatsapp", "active"]
    show_columns = list_columns
    search_columns = ["user", "department", "phone", "active"]
    label_columns = {"last_activity_at": "Last activity", "whatsapp": "WhatsApp"}
    base_order = ("id", "asc")


class FieldTeamView(ResourceModelView):
    datamodel = SQLAInterface(FieldTeam)
    class_permission_name = "FieldTeam"
    list_columns = ["name", "service_areas", "can_survey", "can_install", "payment_schedule", "active"]
    add_columns = edit_columns = [
        "name", "lead_phone", "service_areas", "can_survey", "can_install",
        "payment_schedule", "survey_rate", "installation_rate", "members", "active",
    ]
    show_columns = add_columns
    search_columns = ["name", "service_areas", "can_survey", "can_install", "active"]
    description_columns = {"service_areas": "Comma-separated districts, e.g. Colombo, Gampaha"}
    base_filters = [["id", OwnTeamScope, None]]  # a field team sees its own rates only
    add_form_extra_fields = edit_form_extra_fields = {
        "payment_schedule": enum_value_field("Payment schedule", PaymentSchedule, "How the team's payouts are released"),
    }
    validators_columns = {"survey_rate": [NumberRange(min=0, max=10**11)], "installation_rate": [NumberRange(min=0, max=10**11)]}


class ActivityLogView(ReadOnlyModelView):
    datamodel = SQLAInterface(ActivityLog)
    class_permission_name = "ActivityLog"
    list_columns = ["at", "user", "kind", "description"]
    search_columns = ["user", "kind", "at", "description"]
    base_order = ("at", "desc")


class CapabilityView(ResourceModelView):
    datamodel = SQLAInterface(Capability)
    class_permission_name = "Department"
    list_columns = ["code", "name"]


def register(appbuilder) -> None:
    category = "Team"
    appbuilder.add_view(DepartmentView, "Department", label="Departments", icon="fa-sitemap", category=category)
    appbuilder.add_view(TeamMemberView, "TeamMember", label="Team members", icon="fa-id-badge", category=category)
    appbuilder.add_view(FieldTeamView, "FieldTeam", label="Field teams", icon="fa-truck", category=category)
    appbuilder.add_view(ActivityLogView, "ActivityLog", label="Activity log", icon="fa-history", category=category)
    appbuilder.add_view_no_menu(CapabilityView)
