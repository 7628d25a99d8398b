"""Payments: the settlement CSV import is idempotent and reports what it rejected; history filters."""
from __future__ import annotations

import io
import threading
from decimal import Decimal

from sqlalchemy import func, select

from app.models.customers import Payment, SettlementImport

CSV = """Transaction ID,Date,Amount,Currency,Status,Customer Phone
CS-1001,2026-11-01 09:15:00,1500.00,LKR,Settled,077 123 4567
CS-1002,2026-11-01T10:20:00Z,2000.50,LKR,success,
CS-1003,2026-11-02,750.00,LKR,declined,+94771234567
CS-1004,2026-11-02,abc,LKR,Settled,
CS-1005,yesterday,100.00,LKR,Settled,
CS-1006,2026-11-03,100.00,LKR,Settled,0779999999
,2026-11-03,100.00,LKR,Settled,
CS-1007,2026-11-03,100.00,LKR,teleported,
CS-1008,2026-11-03,10.001,LKR,Settled,
"""


def _payments(session):
    session.expire_all()
    return {(p.provider_ref, p.status, p.amount, p.customer_id) for p in session.scalars(select(Payment))}


def _import(api, provider, content, filename="cybersource-2026-11-03.csv"):
    return api.post(
        "/api/v1/payments/import",
        data={"provider": provider, "file": (io.BytesIO(content.encode()), filename)},
        content_type="multipart/form-data",
    )


def test_a_settlement_import_is_idempotent_and_reports_its_rejects(api_as, session, customer):
    finance = api_as("finance")
    first = _import(finance, "CyberSource", CSV)
    assert first.status_code == 200, first.json
    assert (first.json["total"], first.json["created"], first.json["updated"], first.json["unchanged"]) == (9, 3, 0, 0)
    rejected = {r["row"]: r["reason"] for r in first.json["rejected"]}
    assert rejected == {
        5: "amount must be a number, not 'abc'",
        6: "'yesterday' is not a date",
        7: "no customer with phone 0779999999",
        8: "reference is missing",
        9: "unknown status 'teleported'",
        10: "amount may have at most two decimal places, not '10.001'",
    }
    after_first = _payments(session)
    assert after_first == {
        ("CS-1001", "Settled", Decimal("1500.00"), customer.id),
        ("CS-1002", "Settled", Decimal("2000.50"), None),
        ("CS-1003", "Failed", Decimal("750.00"), customer.id),
    }
    paid_at = session.scalar(select(Payment.paid_at).where(Payment.provider_ref == "CS-1002"))
    assert paid_at.isoformat() == "2026-11-01T10:20:00"

    second = _import(finance, "cybersource", CSV)
    assert (second.json["created"], second.json["updated"], second.json["unchanged"]) == (0, 0, 3)
    assert len(second.json["rejected"]) == 6
    assert _payments(session) == after_first

    # a later file that settles a pending payment updates it; one that contradicts an amount is refused
    later = "reference,date,amount,status\nCS-1003,2026-11-04,750.00,Refunded\nCS-1001,2026-11-04,1499.00,Settled\n"
    third = _import(finance, "CyberSource", later)
    assert (third.json["created"], third.json["updated"]) == (0, 1)
    assert third.json["rejected"] == [
        {"row": 3, "reason": "reference CS-1001 is recorded as 1500.00 LKR, the file says 1499.00 LKR"}
    ]
    assert session.scalar(select(Payment.status).where(Payment.provider_ref == "CS-1003")) == "Refunded"
    # the same reference at another provider is another payment
    assert _import(finance, "Dialog", "reference,date,amount,status\nCS-1001,2026-11-04,10.00,Settled\n").json["created"] == 1
    imports = session.scalars(select(SettlementImport).order_by(SettlementImport.id)).all()
    assert [i.rows_rejected for i in imports] == [6, 6, 1, 0]
    assert "row 7: no customer with phone 0779999999" in imports[0].rejects


def test_a_bad_settlement_file_is_400(api_as, session, app, monkeypatch):
    finance = api_as("finance")
    monkeypatch.setitem(app.config, "SETTLEMENT_CSV_MAX_BYTES", 100)
    assert "the limit is 100 bytes" in _import(finance, "Amex", CSV).json["message"]
    monkeypatch.setitem(app.config, "SETTLEMENT_CSV_MAX_BYTES", 10_000)
    assert "unknown provider" in _import(finance, "PayPal", CSV).json["message"]
    missing = _import(finance, "Amex", "name,amount\nx,1\n")
    assert missing.status_code == 400 and "no column for provider_ref" in missing.json["message"]
    assert finance.post("/api/v1/payments/import?provider=Amex").status_code == 400
    assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_only_finance_and_managers_import(api_as):
    assert _import(api_as("agent"), "Amex", CSV).status_code == 403
    assert _import(api_as("manager"), "Amex", CSV).status_code == 200


def test_the_import_command_is_idempotent_too(app, session, tmp_path, customer):
    path = tmp_path / "amex.csv"
    path.write_text(CSV)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["import-settlement", "Amex", str(path)])
    assert first.exit_code == 0, first.output
    assert "9 rows, 3 new, 0 updated, 0 unchanged, 6 rejected" in first.output
    assert "rejected row 7: no customer with phone 0779999999" in first.output
    second = runner.invoke(args=["import-settlement", "Amex", str(path)])
    assert "0 new, 0 updated, 3 unchanged" in second.output
    assert session.scalar(select(func.count()).select_from(Payment)) == 3


def test_payment_history_filters_by_provider_status_date_and_customer(api_as, session, customer):
    finance = api_as("finance")
    _import(finance, "CyberSource", CSV)
    _import(finance, "Dialog", "reference,date,amount,status,phone\nD-1,2026-10-01,99.00,Settled,0771234567\n")
    agent = api_as("agent")

    def refs(q):
        response = agent.get("/api/v1/payments/", query_string={"q": q})
        assert response.status_code == 200, response.json
        return sorted(r["provider_ref"] for r in response.json["result"])

    assert refs("(filters:!((col:provider,opr:eq,value:Dialog)))") == ["D-1"]
    assert refs("(filters:!((col:status,opr:eq,value:Failed)))") == ["CS-1003"]
    assert refs("(filters:!((col:paid_at,opr:gt,value:'2026-11-01T12:00:00')))") == ["CS-1003"]
    assert refs(f"(filters:!((col:customer,opr:rel_o_m,value:{customer.id})))") == ["CS-1001", "CS-1003", "D-1"]
    assert agent.post("/api/v1/payments/", json={}).status_code == 405


def test_a_settlement_import_looks_customers_up_for_the_whole_file_at_once(api_as, make_customer):
    """A settlement file of many customers must not cost a query per row."""
    from sqlalchemy import event

    from app.extensions import db

    phones = [f"+9477{n:07d}" for n in range(40)]
    for n, phone in enumerate(phones):
        make_customer(name=f"Customer {n}", phone=phone)
    finance = api_as("finance")

    def selects_for(rows: int) -> int:
        content = "Transaction ID,Date,Amount,Currency,Status,Customer Phone\n" + "".join(
            f"Q{rows}-{n},2026-11-01,10.00,LKR,Settled,0{phones[n][3:]}\n" for n in range(rows))
        seen = []
        me = threading.get_ident()  # this request's queries, not a background relay's
        listener = lambda conn, cur, stmt, *a: threading.get_ident() == me and stmt.lstrip().upper().startswith("SELECT") and seen.append(stmt)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            response = _import(finance, "Dialog", content)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert response.status_code == 200 and response.json["created"] == rows and not response.json["rejected"], response.json
        return len(seen)

    assert selects_for(40) == selects_for(4)  # the lookups do not grow with the rows
