"""Installations over REST: leads (OEM intake, idempotent on oem_ref), jobs and their actions, payouts."""
from __future__ import annotations

from flask import g, request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name
from sqlalchemy import select

from app.api.base import API_METHOD_PERMISSIONS, ActionApi, ResourceApi, service_errors
from app.extensions import db
from app.models.installations import InstallationJob, JobVisit, Lead
from app.services.installations_uploads import read_uploads
from app.api.schemas import JOB_ACTION_INPUTS, LeadInput, PayoutReleaseInput, load_input
from app.services import installations_access, installations_leads
from app.services.installations_actions import ACTIONS, run_job_action
from app.services.installations_payouts import due_payouts, release_payouts
from app.services.installations_scheduling import propose_slots, propose_teams, visit_kind


class OemScope(BaseFilter):
    """OEM users see only their OEM's rows; field-team members only their teams' jobs."""

    name = "Visible to the caller"
    arg_name = "oemscope"

    def apply(self, query, value):
        user = getattr(g, "user", None)
        oem_id = installations_access.visible_oem_id(db.session, user)
        if oem_id is not None:
            return query.filter(self.model.oem_id == oem_id)
        if value == "job" and installations_access.is_field_user(user):
            teams = installations_access.teams_of_user(db.session, user) or [-1]
            return query.filter(self.model.id.in_(select(JobVisit.job_id).where(JobVisit.team_id.in_(teams))))
        return query


class OwnTeamScope(BaseFilter):
    """A field-team member sees only their own teams' rows (rates, vendor purchases); others see all."""

    name = "Own team"
    arg_name = "ownteam"

    def apply(self, query, value):
        user = getattr(g, "user", None)
        if installations_access.is_field_user(user):
            teams = installations_access.teams_of_user(db.session, user) or [-1]
            return query.filter(getattr(self.model, self.column_name).in_(teams))
        return query


class LeadApi(ResourceApi):
    resource_name = "leads"
    class_permission_name = "Lead"
    datamodel = SQLAInterface(Lead)
    include_route_methods = {"get", "get_list", "info", "post"}
    base_filters = [["oem_id", OemScope, "lead"]]
    base_order = ("id", "desc")
    list_columns = [
        "id", "oem_ref", "oem.name", "oem_id", "source", "customer_name", "phone", "email", "address", "district",
        "vehicle_model", "charger_type", "created_at", "job.id", "job.stage",
    ]
    show_columns = list_columns + ["notes"]
    search_columns = ["oem_ref", "customer_name", "phone", "district", "source"]

    @expose("/", methods=["POST"])
    @protect()
    @safe
    @permission_name("post")
    @service_errors
    def post(self):
        """Create an installation lead; the same oem_ref from the same OEM is the same lead.
        ---
        post:
          requestBody:
            content:
              application/json:
                schema:
                  type: object
          responses:
            201: {description: Created}
            200: {description: The lead already existed}
        """
        payload = load_input(LeadInput)
        source = "central ops" if not installations_access.is_oem_user(g.user) else "api"
        lead, created = installations_leads.create_lead(db.session, payload, g.user, source=source)
        db.session.commit()
        return self.response(201 if created else 200, id=lead.id, result=installations_leads.lead_as_dict(lead))


class JobApi(ResourceApi):
    resource_name = "jobs"
    class_permission_name = "InstallationJob"
    datamodel = SQLAInterface(InstallationJob)
    include_route_methods = {"get", "get_list", "info", "act", "proposals"}
    method_permission_name = {**API_METHOD_PERMISSIONS, "act": "write", "proposals": "read"}
    base_filters = [["id", OemScope, "job"]]
    base_order = ("id", "desc")
    list_columns = [
        "id", "lead_id", "lead.oem_ref", "oem.name", "oem_id", "stage", "stage_changed_at", "priority", "emergency",
        "district", "address", "latitude", "longitude", "site_ready", "required_work", "materials_available",
        "charger_serial", "ocpp_identity", "signoff_name", "payable_at", "paid_at", "created_at",
    ]
    show_columns = list_columns + ["electrician_name", "electrician_phone", "required_work_note", "held_from_stage"]
    search_columns = ["stage", "district", "priority", "emergency", "oem"]

    @expose("/<int:pk>/<action>", methods=["POST"])
    @protect()
    @safe
    @service_errors
    def act(self, pk, action):
        """Run an action on the job (schedule, assign, team_unavailable, survey_report, review, ...).
        ---
        post:
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          - {in: path, name: action, schema: {type: string}}
          responses:
            200: {description: Done; the job's new state}
        """
        if action not in ACTIONS:
            return self.response_404()
        job = installations_access.get_job(db.session, pk, g.user)
        data = load_input(JOB_ACTION_INPUTS[action])
        message = run_job_action(db.session, job, action, data, read_uploads(request.files), g.user)
        db.session.commit()
        return self.response(200, message=message, id=job.id, stage=job.stage, priority=job.priority, emergency=job.emergency)

    @expose("/<int:pk>/proposals", methods=["GET"])
    @protect()
    @safe
    @service_errors
    def proposals(self, pk):
        """Teams and slots the job can be given (ranked).
        ---
        get:
          parameters:
          - {in: path, name: pk, schema: {type: integer}}
          responses:
            200: {description: Ranked teams for the open visit and free slots}
        """
        job = installations_access.get_job(db.session, pk, g.user)
        kind = request.args.get("kind") or visit_kind(job)
        return self.response(200, kind=kind, teams=propose_teams(db.session, job, kind), slots=propose_slots(db.session, job, kind))


class PayoutApi(ActionApi):
    resource_name = "payouts"
    class_permission_name = "Payout"
    method_permission_name = {**API_METHOD_PERMISSIONS, "due": "read", "release": "write"}

    @expose("/due", methods=["GET"])
    @protect()
    @safe
    @service_errors
    def due(self):
        """What each field team is due now.
        ---
        get:
          responses:
            200: {description: Due payouts per team and period}
        """
        rows = due_payouts(db.session)
        return self.response(200, result=[
            {"team_id": r["team"].id, "team": r["team"].name, "period_start": r["period_start"].isoformat(),
             "period_end": r["period_end"].isoformat(), "amount": str(r["amount"]), "jobs": [j.id for j, _, _ in r["jobs"]]}
            for r in rows
        ])

    @expose("/release", methods=["POST"])
    @protect()
    @safe
    @service_errors
    def release(self):
        """Finance releases a team's due payouts (the service checks the Finance role).
        ---
        post:
          responses:
            201: {description: The payouts created}
        """
        payload = load_input(PayoutReleaseInput)
        payouts = release_payouts(db.session, payload["team_id"], payload.get("reference") or "", g.user)
        db.session.commit()
        return self.response(201, result=[
            {"id": p.id, "reference": p.reference, "amount": str(p.amount), "team": p.team.name,
             "period_start": p.period_start.isoformat(), "period_end": p.period_end.isoformat(),
             "jobs": [i.job_id for i in p.items]} for p in payouts
        ])


def register(appbuilder) -> None:
    for api in (LeadApi, JobApi, PayoutApi):
        appbuilder.add_api(api)
