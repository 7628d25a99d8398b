"""Installations screens: Central Ops' board and calendar, the job page with its actions, the field
team's jobs, Procurement's and Finance's queues, the OEM portal, the customer's upload page, and
declarative lists of the reference data and ledgers."""
from __future__ import annotations

import io
from datetime import date, timedelta

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.api.installations import OemScope, OwnTeamScope
from app.api.schemas import JOB_ACTION_INPUTS, input_problem
from app.extensions import db
from app.models.base import utcnow
from app.models.installations import (
    InstallationJob, JobEvent, JobFile, JobVisit, Lead, Material, Oem, OemReport, OemUser, Payout,
    StockLevel, StockLocation, StockMove, VendorPurchase,
)
from app.models.people import FieldTeam
from app.services.installations_uploads import read_uploads
from app.services.installations_board import BOARD_STAGES, load_board, phases as board_phases
from app.services import InvalidInput, ServiceError
from app.services import installations_access, installations_leads, installations_steps
from app.services import installations
from app.services import installations_materials as materials
from app.services import installations_payouts as payouts
from app.services import installations_scheduling as scheduling
from app.services import installations_uploads as uploads
from app.services.installations_actions import ACTIONS, run_job_action
from app.services.installations_job_page import job_page
from app.views.base import Done, ReadOnlyModelView, ResourceModelView, form_action
from reporting.installations_closure import closure_pack_pdf
from reporting.installations_closure import closure_media_zip
from app.services.outbox import enqueue_after_commit
from reporting.installations import period_bounds
from reporting.installations import report_path

CATEGORY = "Installations"
BOARD_COLUMN_LIMIT = 40
OEM_PAGE_SIZE = 25  # the OEM portal's leads and jobs per page



def _safe_next(default: str) -> str:
    target = request.form.get("next") or request.args.get("next") or ""
    return target if target.startswith("/installations") and "//" not in target else default


def _week_start(raw) -> date:
    try:
        day = date.fromisoformat(raw) if raw else utcnow().date()
    except ValueError:
        day = utcnow().date()
    return day - timedelta(days=day.weekday())


class InstallationBoardView(BaseView):
    """Central Ops' pipeline board (jobs by stage, emergencies and overdue first) and the team calendar."""

    route_base = "/installations"
    class_permission_name = "InstallationBoard"
    method_permission_name = {"board": "read", "calendar": "read"}
    default_view = "board"

    @expose("/board")
    @has_access
    def board(self):
        board = load_board(db.session, request.args.get("district") or "", utcnow())
        return self.render_template(
            "installations/board.html", stages=BOARD_STAGES, columns=board.columns, counts=board.counts,
            open_visits=board.open_visits, team_options=board.team_options, is_overdue=board.is_overdue,
            limit=BOARD_COLUMN_LIMIT, slots=scheduling.SLOTS, tomorrow=(board.now.date() + timedelta(days=1)).isoformat(),
            district=board.district, districts=board.districts, svc=installations, phases=board_phases(BOARD_STAGES),
            no_team_reason=board.no_team_reason,
        )

    @expose("/calendar")
    @has_access
    def calendar(self):
        start = _week_start(request.args.get("week"))
        data = scheduling.calendar(db.session, start)
        return self.render_template("installations/calendar.html", start=start, prev=(start - timedelta(days=7)).isoformat(),
                                    next=(start + timedelta(days=7)).isoformat(), slots=scheduling.SLOTS, **data)


class InstallationJobView(BaseView):
    """One job: its details, history, files and every action the user's role may take."""

    route_base = "/installations/job"
    class_permission_name = "InstallationJob"
    method_permission_name = {"show": "read", "act": "write", "download": "read", "closure_pdf": "read", "closure_zip": "read"}
    default_view = "show"

    def _job(self, job_id):
        try:
            return installations_access.get_job(db.session, job_id, g.user)
        except ServiceError:
            abort(404)

    @expose("/<int:job_id>")
    @has_access
    def show(self, job_id):
        page = job_page(db.session, self._job(job_id), g.user)
        context = dict(
            page.as_context(), slots=scheduling.SLOTS, svc=installations,
            can_write=not page.oem_view and self.appbuilder.sm.has_access("can_write", "InstallationJob"),
            work_types=installations.REQUIRED_WORK_TYPES, purposes=installations.CALL_PURPOSES, outcomes=installations.CALL_OUTCOMES,
            checklist_fields=installations_steps.SURVEY_CHECKLIST, tomorrow=(utcnow().date() + timedelta(days=1)).isoformat(),
        )
        return self.render_template("installations/job.html", **context)

    @expose("/<int:job_id>/act/<action>", methods=["POST"])
    @has_access
    @form_action(lambda job_id, action: _safe_next(url_for("InstallationJobView.show", job_id=job_id)))
    def act(self, job_id, action):
        job = self._job(job_id)
        if action not in ACTIONS or installations_access.is_oem_user(g.user):
            abort(404)
        data = request.form.to_dict()
        if "required_work" in request.form:
            data["required_work"] = request.form.getlist("required_work")
        # the API's schema for this action checks the fields both paths share (types, lengths, ranges); the
        # form's own extras (csrf_token, next, per-line inputs) pass on to the service as before
        schema = JOB_ACTION_INPUTS[action]
        problem = input_problem(schema, {k: v for k, v in data.items() if k in schema._declared_fields and v != ""})
        if problem:
            raise InvalidInput(problem)
        return run_job_action(db.session, job, action, data, read_uploads(request.files), g.user)

    @expose("/<int:job_id>/file/<int:file_id>")
    @has_access
    def download(self, job_id, file_id):
        job = self._job(job_id)
        record = db.session.get(JobFile, file_id)
        if record is None or record.job_id != job.id:
            abort(404)
        return send_file(uploads.file_path(record), mimetype=record.content_type, download_name=record.original_name)

    @expose("/<int:job_id>/closure-pack.pdf")
    @has_access
    def closure_pdf(self, job_id):
        job = self._job(job_id)
        return send_file(io.BytesIO(closure_pack_pdf(db.session, job)), mimetype="application/pdf",
                         download_name=f"{job.code}-closure-pack.pdf")

    @expose("/<int:job_id>/closure-media.zip")
    @has_access
    def closure_zip(self, job_id):
        job = self._job(job_id)
        return send_file(io.BytesIO(closure_media_zip(db.session, job)), mimetype="application/zip",
                         download_name=f"{job.code}-media.zip")


class MyFieldJobsView(BaseView):
    """The field team member's own jobs: only visits of teams they belong to."""

    route_base = "/installations/my-jobs"
    class_permission_name = "MyFieldJobs"
    method_permission_name = {"list": "read"}
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        team_ids = installations_access.teams_of_user(db.session, g.user)
        visits = list(db.session.scalars(
            select(JobVisit).where(JobVisit.team_id.in_(team_ids or [-1]), JobVisit.status.in_(("assigned", "done")))
            .options(selectinload(JobVisit.job).selectinload(InstallationJob.lead), selectinload(JobVisit.team))
            .order_by(JobVisit.status, JobVisit.visit_date)
        ))
        teams = list(db.session.scalars(select(FieldTeam).where(FieldTeam.id.in_(team_ids or [-1]))))
        start = _week_start(request.args.get("week"))
        data = scheduling.calendar(db.session, start, team_ids)
        return self.render_template("installations/my_jobs.html", visits=visits, my_teams=teams, start=start,
                                    slots=scheduling.SLOTS, **data)


class ProcurementQueueView(BaseView):
    route_base = "/installations/procurement"
    class_permission_name = "ProcurementQueue"
    method_permission_name = {"queue": "read", "receive": "write"}
    default_view = "queue"

    @expose("/")
    @has_access
    def queue(self):
        jobs = list(db.session.scalars(
            select(InstallationJob).where(InstallationJob.stage.in_((installations.SITE_READY, installations.MATERIALS_CHECKED, installations.LOCAL_PROCUREMENT)))
            .options(selectinload(InstallationJob.lead)).order_by(InstallationJob.priority.desc(), InstallationJob.stage_changed_at)
        ))
        levels = list(db.session.scalars(select(StockLevel).options(selectinload(StockLevel.material), selectinload(StockLevel.location))
                                         .order_by(StockLevel.location_id, StockLevel.material_id)))
        return self.render_template(
            "installations/procurement.html", jobs=jobs, levels=levels,
            materials=list(db.session.scalars(select(Material).order_by(Material.sku))),
            locations=list(db.session.scalars(select(StockLocation).order_by(StockLocation.name))), svc=installations,
        )

    @expose("/receive", methods=["POST"])
    @has_access
    @form_action("ProcurementQueueView.queue")
    def receive(self):
        material_id, location_id = request.form.get("material_id", ""), request.form.get("location_id", "")
        if not material_id.isdigit() or not location_id.isdigit():
            raise InvalidInput("Choose a material and a location")
        materials.receive_stock(db.session, int(material_id), int(location_id),
                                request.form.get("quantity"), g.user, request.form.get("reason") or "Goods received")
        return "Stock received"


class FinanceQueueView(BaseView):
    route_base = "/installations/finance"
    class_permission_name = "FinanceQueue"
    method_permission_name = {"queue": "read", "release": "write"}
    default_view = "queue"

    @expose("/")
    @has_access
    def queue(self):
        purchases = list(db.session.scalars(select(VendorPurchase).where(VendorPurchase.status != "paid")
                                            .options(selectinload(VendorPurchase.job)).order_by(VendorPurchase.created_at)))
        recent = list(db.session.scalars(select(Payout).options(selectinload(Payout.items), selectinload(Payout.team))
                                         .order_by(Payout.id.desc()).limit(20)))
        return self.render_template("installations/finance.html", purchases=purchases, due=payouts.due_by_team(db.session),
                                    recent=recent)

    @expose("/release", methods=["POST"])
    @has_access
    @form_action("FinanceQueueView.queue")
    def release(self):
        made = payouts.release_payouts(db.session, request.form.get("team_id"), request.form.get("reference", ""), g.user)
        return f"Released {len(made)} payout(s): " + ", ".join(f"{p.reference} {p.amount}" for p in made)


class OemPortalView(BaseView):
    """The OEM's own leads, jobs and reports (OEM Reporting and Central Ops see every OEM's)."""

    route_base = "/installations/oem"
    class_permission_name = "OemPortal"
    method_permission_name = {"portal": "read", "new_lead": "write", "report": "read", "send_reports": "write"}
    default_view = "portal"

    @expose("/")
    @has_access
    def portal(self):
        oem_id = installations_access.visible_oem_id(db.session, g.user)
        page = max(0, request.args.get("page", 0, type=int) or 0)
        leads = (select(Lead).options(selectinload(Lead.job), selectinload(Lead.oem)).order_by(Lead.id.desc())
                 .offset(page * OEM_PAGE_SIZE).limit(OEM_PAGE_SIZE + 1))
        reports = select(OemReport).order_by(OemReport.period_start.desc()).limit(50)
        counts = select(InstallationJob.stage, func.count()).group_by(InstallationJob.stage)
        if oem_id is not None:
            leads, reports = leads.where(Lead.oem_id == oem_id), reports.where(OemReport.oem_id == oem_id)
            counts = counts.where(InstallationJob.oem_id == oem_id)
        oem = db.session.get(Oem, oem_id) if oem_id and oem_id > 0 else None
        leads = list(db.session.scalars(leads))
        return self.render_template("installations/oem_portal.html", leads=leads[:OEM_PAGE_SIZE], page=page,
                                    has_next=len(leads) > OEM_PAGE_SIZE,
                                    reports=list(db.session.scalars(reports)), counts=dict(db.session.execute(counts).all()),
                                    oem=oem, is_oem=oem_id is not None, stages=installations.STAGES,
                                    can_send=self.appbuilder.sm.has_access("can_write", "OemPortal"),
                                    last_week=(utcnow().date() - timedelta(days=utcnow().date().weekday() + 7)).isoformat())

    @expose("/lead", methods=["POST"])
    @has_access
    @form_action("OemPortalView.portal")
    def new_lead(self):
        if not installations_access.is_oem_user(g.user):
            return Done("Leads are shared here by OEM logins; Central Ops logs them through the API or the OEM's portal.",
                        category="danger")
        lead, created = installations_leads.create_lead(db.session, request.form.to_dict(), g.user, source="portal")
        return f"Lead {lead.oem_ref} " + ("logged" if created else "was already logged")

    @expose("/send-reports", methods=["POST"])
    @has_access
    def send_reports(self):
        """OEM Reporting builds and e-mails every OEM's report for a period now (on the Celery worker)."""
        if installations_access.is_oem_user(g.user):
            abort(403)
        period = request.form.get("period") if request.form.get("period") in ("weekly", "monthly") else "weekly"
        try:
            start, _ = period_bounds(period, date.fromisoformat(request.form.get("start") or ""))
        except ValueError:
            flash("Give the first day of the period as YYYY-MM-DD", "danger")
            return redirect(url_for("OemPortalView.portal"))
        oems = list(db.session.scalars(select(Oem).where(Oem.active.is_(True))))
        for oem in oems:
            enqueue_after_commit(db.session, "installations.send_oem_report", oem.id, period, start.isoformat())
        db.session.commit()
        # queued, not sent: each report says "sent" only once the mail server has accepted it
        flash(f"Building the {period} report from {start} for {len(oems)} OEM(s); each shows its e-mail status below "
              "once the mail server has answered", "info")
        return redirect(url_for("OemPortalView.portal"))

    @expose("/report/<int:report_id>")
    @has_access
    def report(self, report_id):
        record = db.session.get(OemReport, report_id)
        oem_id = installations_access.visible_oem_id(db.session, g.user)
        if record is None or (oem_id is not None and record.oem_id != oem_id):
            abort(404)
        return send_file(report_path(record.stored_name), download_name=record.stored_name,
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


class CustomerUploadView(BaseView):
    """The customer's page behind the signed, expiring link: no account, only this job's documents."""

    route_base = "/installations/upload"
    class_permission_name = "InstallationJob"  # nothing here is behind a permission: the signed token is the key

    @expose("/<token>", methods=["GET", "POST"])
    def upload(self, token):
        error, saved, job = None, None, None
        try:
            job = uploads.job_for_token(db.session, token)
        except ServiceError as exc:
            return self.render_template("installations/upload.html", job=None, error=exc.message, saved=None), exc.status
        if request.method == "POST":
            files = {k: v[0] for k, v in read_uploads(request.files).items()}
            try:
                saved = installations_steps.customer_upload(db.session, token, request.form.to_dict(), files)
                db.session.commit()
            except ServiceError as exc:
                db.session.rollback()
                error = exc.message
                job = db.session.get(InstallationJob, job.id)
        missing = installations.missing_documents(db.session, job)
        status = 400 if error else 200
        return self.render_template("installations/upload.html", job=job, error=error, saved=saved, missing=missing,
                                    site_not_ready=job.stage == installations.SITE_NOT_READY), status


# --- declarative lists ----------------------------------------------------------------------
class OemView(ResourceModelView):
    datamodel = SQLAInterface(Oem)
    class_permission_name = "Oem"
    list_columns = ["name", "code", "contact_name", "contact_email", "contact_phone", "active"]
    add_columns = edit_columns = show_columns = list_columns[:-1] + ["report_emails", "active"]


class OemUserView(ResourceModelView):
    datamodel = SQLAInterface(OemUser)
    class_permission_name = "OemUser"
    list_columns = add_columns = edit_columns = show_columns = ["user", "oem"]


class LeadView(ReadOnlyModelView):
    datamodel = SQLAInterface(Lead)
    class_permission_name = "Lead"
    base_filters = [["oem_id", OemScope, "lead"]]
    base_order = ("id", "desc")
    list_columns = ["oem", "oem_ref", "source", "customer_name", "phone", "district", "created_at"]
    show_columns = list_columns + ["email", "address", "vehicle_model", "charger_type", "notes"]
    search_columns = ["oem", "oem_ref", "source", "customer_name", "phone", "district"]


class JobListView(ReadOnlyModelView):
    datamodel = SQLAInterface(InstallationJob)
    class_permission_name = "InstallationJob"
    base_filters = [["id", OemScope, "job"]]
    base_order = ("id", "desc")
    list_columns = ["lead", "oem", "stage", "district", "priority", "emergency", "stage_changed_at"]
    show_columns = list_columns + ["address", "latitude", "longitude", "charger_serial", "ocpp_identity", "paid_at"]
    search_columns = ["stage", "district", "oem", "priority", "emergency"]


class JobEventView(ReadOnlyModelView):
    datamodel = SQLAInterface(JobEvent)
    class_permission_name = "JobEvent"
    base_order = ("id", "desc")
    list_columns = ["at", "job", "actor", "from_stage", "to_stage", "comment"]
    search_columns = ["job", "actor", "from_stage", "to_stage", "at"]


class MaterialView(ResourceModelView):
    datamodel = SQLAInterface(Material)
    class_permission_name = "Material"
    list_columns = add_columns = edit_columns = show_columns = ["sku", "name", "category", "unit", "unit_cost"]


class StockLocationView(ResourceModelView):
    datamodel = SQLAInterface(StockLocation)
    class_permission_name = "StockLocation"
    list_columns = add_columns = edit_columns = show_columns = ["name", "district"]


class StockLevelView(ReadOnlyModelView):
    datamodel = SQLAInterface(StockLevel)
    class_permission_name = "StockLevel"
    list_columns = ["location", "material", "quantity"]
    search_columns = ["location", "material"]


class StockMoveView(ReadOnlyModelView):
    datamodel = SQLAInterface(StockMove)
    class_permission_name = "StockMove"
    base_order = ("id", "desc")
    list_columns = ["at", "location", "material", "quantity", "team", "reason", "user"]
    search_columns = ["location", "material", "team", "at"]


class VendorPurchaseView(ReadOnlyModelView):
    datamodel = SQLAInterface(VendorPurchase)
    class_permission_name = "VendorPurchase"
    base_order = ("id", "desc")
    list_columns = ["created_at", "job", "vendor_name", "items", "amount", "upi_id", "status"]
    search_columns = ["vendor_name", "status", "created_at"]
    base_filters = [["team_id", OwnTeamScope, None]]  # a field team sees its own purchases only


class PayoutView(ReadOnlyModelView):
    datamodel = SQLAInterface(Payout)
    class_permission_name = "Payout"
    base_order = ("id", "desc")
    list_columns = ["created_at", "team", "period_start", "period_end", "amount", "reference", "released_by"]
    search_columns = ["team", "reference", "created_at"]


class OemReportView(ReadOnlyModelView):
    datamodel = SQLAInterface(OemReport)
    class_permission_name = "OemReport"
    base_order = ("id", "desc")
    list_columns = ["created_at", "oem", "period", "period_start", "period_end", "rows", "emailed_to", "email_status", "email_error"]


def register(appbuilder) -> None:
    add = appbuilder.add_view
    add(InstallationBoardView, "InstallationBoard", label="Pipeline board", icon="fa-columns", category=CATEGORY)
    appbuilder.add_link("InstallationBoard", label="Team calendar", href="/installations/calendar", icon="fa-calendar", category=CATEGORY)
    add(MyFieldJobsView, "MyFieldJobs", label="My field jobs", icon="fa-wrench", category=CATEGORY)
    add(ProcurementQueueView, "ProcurementQueue", label="Procurement queue", icon="fa-cubes", category=CATEGORY)
    add(FinanceQueueView, "FinanceQueue", label="Finance queue", icon="fa-money", category=CATEGORY)
    add(OemPortalView, "OemPortal", label="OEM portal", icon="fa-industry", category=CATEGORY)
    add(JobListView, "InstallationJob", label="Installation jobs", icon="fa-plug", category=CATEGORY)
    add(LeadView, "Lead", label="Leads", icon="fa-inbox", category=CATEGORY)
    add(JobEventView, "JobEvent", label="Job history", icon="fa-history", category=CATEGORY)
    add(OemView, "Oem", label="OEMs", icon="fa-car", category=CATEGORY)
    add(OemUserView, "OemUser", label="OEM logins", icon="fa-user", category=CATEGORY)
    add(MaterialView, "Material", label="Material catalogue", icon="fa-list", category=CATEGORY)
    add(StockLocationView, "StockLocation", label="Stock locations", icon="fa-building", category=CATEGORY)
    add(StockLevelView, "StockLevel", label="Stock levels", icon="fa-archive", category=CATEGORY)
    add(StockMoveView, "StockMove", label="Stock moves", icon="fa-exchange", category=CATEGORY)
    add(VendorPurchaseView, "VendorPurchase", label="Local purchases", icon="fa-shopping-cart", category=CATEGORY)
    add(PayoutView, "Payout", label="Field-team payouts", icon="fa-credit-card", category=CATEGORY)
    add(OemReportView, "OemReport", label="OEM reports", icon="fa-file-excel-o", category=CATEGORY)
    appbuilder.add_view_no_menu(InstallationJobView)
    appbuilder.add_view_no_menu(CustomerUploadView)
