"""What one installation job's page shows: its history, visits, calls, messages, files, reports,
the moves and actions open to the person, scheduling proposals and materials. One place for the
page's queries; the view only renders."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Optional

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.installations import (
    InstallationJob, InstallationReport, JobCall, JobEvent, JobMessage, JobVisit, StockLocation, SurveyReport,
    VendorPurchase,
)
from app.models.people import FieldTeam
from app.services import installations, installations_access
from app.services import installations_materials as materials
from app.services import installations_scheduling as scheduling
from app.services import installations_uploads as uploads
from app.services.installations_actions import offered_actions


@dataclass
class JobPage:
    job: InstallationJob
    oem_view: bool
    roles: set
    events: list
    visits: list
    calls: list
    messages: list
    files: list
    survey_report: Optional[SurveyReport]
    checklist: dict
    install_report: Optional[InstallationReport]
    moves: list
    kind: str
    proposals: list
    slot_options: list
    missing: list
    bom: list
    locations: list
    teams: list
    purchases: list
    availability: list
    upload_link: Optional[str]
    offered: object

    def as_context(self) -> dict:
        """The page's template names (a shallow copy: the records stay the session's)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _rows(session: Session, model, job_id: int) -> list:
    return list(session.scalars(select(model).where(model.job_id == job_id).order_by(model.id)))


def job_page(session: Session, job: InstallationJob, user: User) -> JobPage:
    """The page of a job the person may see (load it with installations_access.get_job)."""
    oem_view = installations_access.is_oem_user(user)
    survey_report = session.scalar(select(SurveyReport).where(SurveyReport.job_id == job.id))
    install_report = session.scalar(select(InstallationReport).where(InstallationReport.job_id == job.id))
    kind = scheduling.visit_kind(job)
    return JobPage(
        job=job, oem_view=oem_view, roles=installations.role_names(user),
        events=_rows(session, JobEvent, job.id), visits=_rows(session, JobVisit, job.id),
        calls=_rows(session, JobCall, job.id), messages=_rows(session, JobMessage, job.id),
        files=uploads.files_of(session, job), survey_report=survey_report,
        checklist=json.loads(survey_report.checklist) if survey_report else {}, install_report=install_report,
        moves=installations.allowed_moves(session, job, user), kind=kind,
        proposals=scheduling.propose_teams(session, job, kind), slot_options=scheduling.propose_slots(session, job, kind, limit=4),
        missing=installations.missing_documents(session, job), bom=materials.bom_of(session, job),
        locations=list(session.scalars(select(StockLocation).order_by(StockLocation.name))),
        teams=list(session.scalars(select(FieldTeam).where(FieldTeam.active.is_(True)).order_by(FieldTeam.name))),
        purchases=list(session.scalars(select(VendorPurchase).where(VendorPurchase.job_id == job.id))),
        availability=materials.availability(session, job, job.stock_location_id) if job.stock_location_id else [],
        upload_link=uploads.upload_link(job) if not oem_view else None, offered=offered_actions(user),
    )
