"""OEM report e-mail through a real SMTP server (aiosmtpd): it arrives with the right attachment, a refused
one shows 'failed' with the server's reason; the reports list and downloads (contract v1.1) per role."""
from __future__ import annotations

import io
from datetime import date

import pandas as pd
from openpyxl import load_workbook
from sqlalchemy import select

from reporting.installations import report_path


def _build(session, code: str, start: date):
    from app.models.installations import Oem
    from reporting.installations import oem_report

    record, _ = oem_report(session, session.scalar(select(Oem).where(Oem.code == code)), "weekly", start)
    session.commit()
    return record


def test_the_report_arrives_with_its_workbook(seeded, session, smtp_server, web_as):
    record = _build(session, "TATA", date.fromisoformat(seeded["week"]))
    assert record.email_status == "sent" and record.emailed_at is not None and record.email_error is None
    (rcpts, message), = smtp_server.messages
    assert rcpts == ["ev-installs@tatamotors.example"] and "Tata Motors" in message["Subject"]
    part = next(p for p in message.walk() if p.get_filename())
    assert part.get_filename() == record.stored_name
    workbook = part.get_payload(decode=True)
    assert workbook == report_path(record.stored_name).read_bytes()  # the file the portal serves
    jobs = pd.read_excel(io.BytesIO(workbook), sheet_name="Jobs")
    assert sorted(jobs["Your reference"]) == ["TM-901", "TM-902", "TM-903", "TM-904"]
    title = load_workbook(io.BytesIO(workbook))["Highlights"]["A1"].value
    assert title.startswith("ChargeOps: EV charger installations for Tata Motors, week of")
    page = web_as("oemreporting").get("/reports/mail/").get_data(as_text=True)
    assert "sent" in page and record.stored_name in page


def test_a_refused_report_shows_failed_and_why(seeded, session, refusing_smtp_server, web_as, api_as):
    record = _build(session, "TATA", date.fromisoformat(seeded["week"]))
    assert record.email_status == "failed" and "550" in record.email_error and "mailbox unavailable" in record.email_error
    assert refusing_smtp_server.messages == []
    page = web_as("manager").get("/reports/mail/").get_data(as_text=True)
    assert "failed" in page and "mailbox unavailable" in page
    listed = api_as("oemreporting").get("/api/v1/reports/").json["result"]
    (row,) = [r for r in listed if r["kind"] == "oem_report"]
    assert row["email"]["status"] == "failed" and "550" in row["email"]["reason"]
    portal = web_as("oemreporting").get("/installations/oem/").get_data(as_text=True)
    assert "failed" in portal and "mailbox unavailable" in portal


def test_an_unreachable_mail_server_is_failed_not_sent(app, seeded, session, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{port}")
    record = _build(session, "MG", date.fromisoformat(seeded["week"]))
    assert record.email_status == "failed" and record.email_error.startswith("could not reach the mail server")


def test_reports_are_listed_and_downloaded_by_their_owners(seeded, session, smtp_server, api_as):
    from pipelines import defs

    for name, key in (("installations_weekly", seeded["week"]), ("installations_monthly", seeded["month"]),
                      ("team_performance_weekly", seeded["week"])):
        assert defs.resolve_job_def(name).execute_in_process(partition_key=key).success
    manager = api_as("manager").get("/api/v1/reports/").json["result"]
    assert {r["kind"] for r in manager} == {"oem_report", "payout_ledger", "team_performance"}
    assert all(r["email"]["status"] == "sent" for r in manager if r["kind"] == "oem_report")
    tata = api_as("oem_tata")
    mine = tata.get("/api/v1/reports/").json["result"]
    assert {r["oem"] for r in mine} == {"TATA"} and {r["kind"] for r in mine} == {"oem_report"}
    assert tata.get(mine[0]["download"]).status_code == 200
    theirs = next(r for r in manager if r["oem"] == "MG")
    assert tata.get(theirs["download"]).status_code == 404
    ledger = next(r for r in manager if r["kind"] == "payout_ledger")
    assert tata.get(ledger["download"]).status_code == 404
    reporting = api_as("oemreporting")
    assert reporting.get(ledger["download"]).status_code == 404  # the ledger is Finance's
    assert reporting.get(theirs["download"]).status_code == 200
    assert api_as("finance").get("/api/v1/reports/").status_code == 403
    assert api_as("agent").get("/api/v1/reports/").status_code == 403


def test_finance_downloads_the_payout_ledger(seeded, api_as, web_as):
    month = seeded["month"][:7]
    response = api_as("finance").get(f"/api/v1/payouts/ledger?period={month}")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data))["Payout items"]
    assert sheet.freeze_panes == "A4" and sheet["A3"].value == "Payout reference"
    assert sheet["J4"].number_format == "#,##0.00" and sheet["B4"].number_format == "dd mmm yyyy hh:mm"
    for bad in ("2026-13", "November", ""):
        refused = api_as("finance").get(f"/api/v1/payouts/ledger?period={bad}")
        assert refused.status_code == 400 and "YYYY-MM" in refused.json["message"]
    assert api_as("manager").get(f"/api/v1/payouts/ledger?period={month}").status_code == 200
    assert api_as("centralops").get(f"/api/v1/payouts/ledger?period={month}").status_code == 403
    browser = web_as("finance")
    assert 'id="payout-ledger"' in browser.get("/installations/finance/").get_data(as_text=True)
    screen = browser.get(f"/reports/payout-ledger/?period={month}")
    assert screen.status_code == 200 and screen.data[:2] == b"PK"


def test_the_mail_sink_keeps_every_message_under_var_mail(app, tmp_path):
    import socket

    from app.integrations.email import send_mail
    from app.integrations.mail_sink import kept_messages, start_sink

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = start_sink(tmp_path / "mail", port=port)
    try:
        send_mail("ev-installs@tatamotors.example", "Weekly report", "Attached.", smtp_url=f"smtp://127.0.0.1:{port}",
                  attachments=[("TATA-weekly.xlsx", b"PK...", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")])
    finally:
        sink.stop()
    (kept,) = kept_messages(tmp_path / "mail")
    assert (kept.to, kept.subject, kept.attachments) == ("ev-installs@tatamotors.example", "Weekly report", ["TATA-weekly.xlsx"])
