"""Reports over REST (contract v1.1): the reports and datasets a caller may download, and the payout ledger."""
from __future__ import annotations

import io

from flask import g, request, send_file
from flask_appbuilder.api import expose, protect

from app.api.base import ActionApi, service_errors
from app.extensions import db
from app.services import InvalidInput, iso_utc
from app.services import reports as reports_service
from reporting.datasets import ledger_for_month
from reporting.excel import XLSX_MIMETYPE
from reporting.periods import month_start



class ReportApi(ActionApi):
    resource_name = "reports"
    class_permission_name = "Report"
    method_permission_name = {"list_reports": "read", "download": "read"}

    @expose("/", methods=["GET"])
    @protect()
    def list_reports(self):
        """OEM reports and datasets built, with period, file and e-mail status (an OEM sees its own only).
        ---
        get:
          responses:
            200: {description: "{result: [{kind, id, title, oem, period, period_start, period_end, rows, total, file, download, built_at, email: {status, to, reason, at}}]}"}
        """
        rows = reports_service.list_reports(db.session, g.user)
        for row in rows:
            row["download"] = f"/api/v1/reports/{row['kind']}/{row['id']}/file"
            row["built_at"] = iso_utc(row["built_at"])
            if row["email"]:
                row["email"]["at"] = iso_utc(row["email"]["at"])
        return self.response(200, result=rows, count=len(rows))

    @expose("/<kind>/<int:report_id>/file", methods=["GET"])
    @protect()
    @service_errors
    def download(self, kind, report_id):
        """The report's .xlsx; another OEM's report is 404.
        ---
        get:
          responses:
            200: {description: The workbook}
            404: {description: No such report for this caller}
        """
        path, name = reports_service.report_file(db.session, g.user, kind, report_id)
        return send_file(path, as_attachment=True, download_name=name, mimetype=XLSX_MIMETYPE)


class PayoutLedgerApi(ActionApi):
    resource_name = "payouts"
    class_permission_name = "PayoutLedger"
    method_permission_name = {"ledger": "read"}

    @expose("/ledger", methods=["GET"])
    @protect()
    @service_errors
    def ledger(self):
        """The month's field-team payout ledger as .xlsx (?period=YYYY-MM).
        ---
        get:
          parameters:
          - {in: query, name: period, required: true, schema: {type: string, example: "2026-11"}}
          responses:
            200: {description: The workbook}
            400: {description: The period is not a month as YYYY-MM}
        """
        try:
            first = month_start(request.args.get("period", ""))
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        _, data = ledger_for_month(db.session, first)
        return send_file(io.BytesIO(data), as_attachment=True, download_name=f"payout-ledger-{first:%Y-%m}.xlsx", mimetype=XLSX_MIMETYPE)


def register(appbuilder) -> None:
    for api in (ReportApi, PayoutLedgerApi):
        appbuilder.add_api(api)
