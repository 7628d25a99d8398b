"""Installations closure pack: survey report, installation report, media and sign-off as one PDF
(fpdf2) plus a zip archive of every media file."""
from __future__ import annotations

import io
import json
import zipfile

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.installations import InstallationJob, InstallationReport, JobEvent, SurveyReport
from app.services.installations_uploads import file_path, files_of


def _text(value) -> str:
    """fpdf's core fonts are Latin-1: anything else becomes '?' rather than failing the pack."""
    return str(value if value is not None else "").encode("latin-1", "replace").decode("latin-1")


def closure_pack_pdf(session: Session, job: InstallationJob) -> bytes:
    survey = session.scalar(select(SurveyReport).where(SurveyReport.job_id == job.id))
    install = session.scalar(select(InstallationReport).where(InstallationReport.job_id == job.id))
    pdf = FPDF()
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _text(f"Closure pack {job.code}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)

    def line(label, value):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(45, 6, _text(label))
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(0, 6, _text(value), new_x="LMARGIN", new_y="NEXT")

    for label, value in [
        ("OEM", f"{job.oem.name} (ref {job.lead.oem_ref})"), ("Customer", f"{job.lead.customer_name} {job.lead.phone}"),
        ("Address", f"{job.address or ''} ({job.latitude}, {job.longitude})"), ("District", job.district),
        ("Stage", job.stage), ("Charger", f"{job.charger_serial or ''} / OCPP {job.ocpp_identity or ''}"),
        ("Customer sign-off", f"{job.signoff_name or 'missing'} {job.signoff_at or ''}"),
    ]:
        line(label, value)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, "Survey report", new_x="LMARGIN", new_y="NEXT")
    if survey:
        for key, value in json.loads(survey.checklist).items():
            line(key.replace("_", " "), value)
        line("Notes", survey.notes or "")
        line("Submitted", survey.submitted_at)
    else:
        line("", "No survey report")
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, "Installation report", new_x="LMARGIN", new_y="NEXT")
    if install:
        line("Serial", install.charger_serial)
        line("OCPP identity", install.ocpp_identity)
        line("Demo given", "yes" if install.demo_given else "no")
        line("Notes", install.notes or "")
        line("Submitted", install.submitted_at)
    else:
        line("", "No installation report")
    media = files_of(session, job)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, f"Media ({len(media)} files, all in the media archive)", new_x="LMARGIN", new_y="NEXT")
    for record in media:
        line(record.kind.replace("_", " "), f"{record.original_name} ({record.size} bytes)")
        if record.content_type in ("image/jpeg", "image/png"):
            try:
                pdf.image(str(file_path(record)), w=80)
            except Exception:  # a photo fpdf cannot decode stays listed and in the archive
                pass
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, "History", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    for event in session.scalars(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id)):
        pdf.multi_cell(0, 4, _text(f"{event.at:%Y-%m-%d %H:%M} {event.actor}: {event.from_stage or '-'} -> {event.to_stage}. {event.comment or ''}"),
                       new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def closure_media_zip(session: Session, job: InstallationJob) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{job.code}-closure-pack.pdf", closure_pack_pdf(session, job))
        for record in files_of(session, job):
            path = file_path(record)
            if path.exists():
                archive.write(path, f"{record.kind}/{record.id}-{record.stored_name}")
    return buffer.getvalue()
