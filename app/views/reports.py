"""Reports screens: the reports and datasets a role may download, the report e-mail that was sent
(or failed, and why), and the payout ledger as .xlsx for Finance."""
from __future__ import annotations

import io

from flask import abort, current_app, g, request, send_file
from flask_appbuilder import BaseView, expose, has_access

from app.extensions import db
from app.integrations.mail_sink import kept_messages, mail_dir
from app.services import ServiceError
from app.services import reports as reports_service
from reporting.datasets import ledger_for_month
from reporting.excel import XLSX_MIMETYPE
from reporting.periods import month_start

CATEGORY = "Reports"


class ReportsView(BaseView):
    route_base = "/reports"
    class_permission_name = "Report"
    method_permission_name = {"index": "read", "download": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("reports/index.html", reports=reports_service.list_reports(db.session, g.user))

    @expose("/file/<kind>/<int:report_id>")
    @has_access
    def download(self, kind, report_id):
        try:
            path, name = reports_service.report_file(db.session, g.user, kind, report_id)
        except ServiceError:
            abort(404)
        return send_file(path, as_attachment=True, download_name=name, mimetype=XLSX_MIMETYPE)


class ReportMailView(BaseView):
    route_base = "/reports/mail"
    class_permission_name = "ReportMail"
    method_permission_name = {"index": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("reports/mail.html", reports=reports_service.sent_report_mail(db.session),
                                    kept=kept_messages(mail_dir(current_app.config["VAR_DIR"])),
                                    smtp_url=current_app.config["SMTP_URL"])


class PayoutLedgerView(BaseView):
    """The payouts screen's download: the month's ledger, built from the database as it is now."""

    route_base = "/reports/payout-ledger"
    class_permission_name = "PayoutLedger"
    method_permission_name = {"download": "read"}
    default_view = "download"

    @expose("/")
    @has_access
    def download(self):
        try:
            first = month_start(request.args.get("period", ""))
        except ValueError as exc:
            abort(400, str(exc))
        _, data = ledger_for_month(db.session, first)
        return send_file(io.BytesIO(data), as_attachment=True, download_name=f"payout-ledger-{first:%Y-%m}.xlsx", mimetype=XLSX_MIMETYPE)


def register(appbuilder) -> None:
    appbuilder.add_view(ReportsView, "Report", label="Reports and datasets", icon="fa-file-excel-o", category=CATEGORY)
    appbuilder.add_view(ReportMailView, "ReportMail", label="Sent report e-mail", icon="fa-envelope", category=CATEGORY)
    appbuilder.add_view_no_menu(PayoutLedgerView)
