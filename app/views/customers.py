"""Contacts and finance screens: customers, the customer page (with a panel registry), wallets,
the wallet audit trail (+ Excel), payments, settlement imports and manual top-ups (maker-checker).

The customer page is composable: other modules append a function to CUSTOMER_PANELS (or call
`register_customer_panel`). Each function takes (session, customer) and returns None (nothing to
show) or a dict:
    {"title": "Calls", "order": 40, "columns": ["When", "Category", ...], "rows": [[...], ...],
     "empty": "No calls yet.", "link": "/calls/list/?...", "html": Markup(...)}
Rows are shown as given (newest first is the panel's job); `html` replaces the table when given.
"""
from __future__ import annotations

import io
from datetime import datetime
from typing import Callable, Optional

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_filter_args
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from wtforms import StringField
from wtforms.validators import ValidationError

from app.formatting import local_datetime
from app.extensions import db
from app.models.customers import (
    TOPUP_PENDING, Customer, Payment, SettlementImport, TopUp, Vehicle, Wallet, WalletEntry,
)
from app.services import ServiceError
from app.services import customers as customer_service
from app.services import customers_payments as payments_service
from app.services import customers_topups, customers_wallet
from app.services.customers_receipts import receipt_path
from app.services.phones import try_e164
from app.views.base import (
    ACTIVE_ONLY, ARCHIVED_ONLY, VIEW_METHOD_PERMISSIONS, ArchiveAction, Done, ReadOnlyModelView, ResourceModelView, RestoreAction,
    form_action,
)
from app.extensions import appbuilder
from reporting.wallets import ledger_workbook, EXPORT_LIMIT
from app.models.customers import PROVIDERS
from app.services import InvalidInput

# --- the customer page's panel registry ------------------------------------------------------

Panel = dict
CUSTOMER_PANELS: list[Callable[[Session, Customer], Optional[Panel]]] = []


def register_customer_panel(fn: Callable[[Session, Customer], Optional[Panel]]):
    """Add a panel to the customer page (usable as a decorator); registering twice is harmless."""
    if fn not in CUSTOMER_PANELS:
        CUSTOMER_PANELS.append(fn)
    return fn


@register_customer_panel
def wallet_panel(session: Session, customer: Customer) -> Panel:
    entries = customers_wallet.ledger_for_customer(session, customer.id, limit=25)
    return {
        "title": "Wallet transactions",
        "order": 10,
        "columns": ["When", "Type", "Amount", "Balance after", "Reason", "Source", "By"],
        "rows": [
            [local_datetime(e.created_at), e.entry_type, f"{e.amount:,.2f}", f"{e.balance_after:,.2f}",
             e.reason, e.source, e.created_by.username if e.created_by else "system"]
            for e in entries
        ],
        "empty": "No wallet transactions yet.",
        "link": _link_if_allowed("WalletEntry", url_for("WalletEntryView.list") + f"?_flt_0_wallet_id={_wallet_id(session, customer)}"),
    }


@register_customer_panel
def payments_panel(session: Session, customer: Customer) -> Panel:
    rows = payments_service.payments_for_customer(session, customer.id, limit=25)
    return {
        "title": "Payments",
        "order": 20,
        "columns": ["Paid", "Provider", "Reference", "Status", "Amount"],
        "rows": [[local_datetime(p.paid_at), p.provider, p.provider_ref, p.status,
                  f"{p.amount:,.2f} {p.currency}"] for p in rows],
        "empty": "No payments yet.",
        "link": _link_if_allowed("Payment", url_for("PaymentView.list") + f"?_flt_0_customer_id={customer.id}"),
    }


@register_customer_panel
def topups_panel(session: Session, customer: Customer) -> Optional[Panel]:
    topups = session.scalars(
        select(TopUp).where(TopUp.customer_id == customer.id).order_by(TopUp.id.desc()).limit(10)
    ).all()
    if not topups:
        return None
    return {
        "title": "Manual top-ups",
        "order": 30,
        "columns": ["Entered", "Receipt", "Amount", "Status", "By", "Decided by"],
        "rows": [[local_datetime(t.created_at), t.receipt_no, f"{t.amount:,.2f}", t.status,
                  t.created_by.username if t.created_by else "", t.decided_by.username if t.decided_by else ""]
                 for t in topups],
    }


def _link_if_allowed(resource: str, link: str) -> Optional[str]:
    return link if appbuilder.sm.has_access("can_read", resource) else None


def _wallet_id(session: Session, customer: Customer):
    return session.scalar(
        select(Wallet.id).where(Wallet.customer_id == customer.id, Wallet.currency == customer_service.default_currency())
    ) or ""


def customer_panels(session: Session, customer: Customer) -> list[Panel]:
    panels = [p for p in (fn(session, customer) for fn in CUSTOMER_PANELS) if p]
    return sorted(panels, key=lambda p: p.get("order", 100))


# --- customers ----------------------------------------------------------------------------------


def _editing_customer_id() -> Optional[int]:
    pk = (request.view_args or {}).get("pk")
    return int(pk) if pk and str(pk).isdigit() else None


def _phone_free(form, field):
    """Inline form error for a number that is not valid or belongs to someone else."""
    values = [v for v in (field.data or "").replace(";", ",").split(",") if v.strip()]
    for raw in values:
        e164 = try_e164(raw)
        if e164 is None:
            raise ValidationError(f"'{raw.strip()}' is not a valid phone number")
        owner = customer_service.find_by_phone(db.session, e164)
        if owner is not None and owner.id != _editing_customer_id():
            raise ValidationError(f"{e164} already belongs to customer #{owner.id} {owner.name}")


class _ServiceBackedInterface(SQLAInterface):
    """The customer add/edit forms save through the service (phones, tags, wallet); FAB only commits."""

    def add(self, item, raise_exception=False):
        self.session.commit()
        return True

    def edit(self, item, raise_exception=False):
        self.session.commit()
        return True


class VehicleView(ResourceModelView):
    datamodel = SQLAInterface(Vehicle)
    class_permission_name = "Customer"
    list_columns = ["customer", "make", "model", "plate"]
    add_columns = edit_columns = ["customer", "make", "model", "plate"]
    search_columns = ["make", "model", "plate"]


class CustomerView(ArchiveAction, ResourceModelView):
    datamodel = _ServiceBackedInterface(Customer)
    class_permission_name = "Customer"
    base_filters = ACTIVE_ONLY  # archived customers: ArchivedCustomerView
    list_columns = ["name", "phone", "email", "address", "created_at"]
    add_columns = edit_columns = ["name", "phone", "extra_phones", "tag_numbers", "email", "address", "notes"]
    search_columns = ["name", "phone", "email", "address", "created_at"]
    label_columns = {"extra_phones": "Other phones", "tag_numbers": "RFID / ID tags", "created_at": "Created"}
    description_columns = {
        "phone": "Any form: 077 123 4567, +94771234567, 0094...; stored as +94771234567",
        "extra_phones": "Comma-separated",
        "tag_numbers": "Comma-separated RFID card / ID tag numbers",
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "extra_phones": StringField("Other phones", validators=[_phone_free]),
        "tag_numbers": StringField("RFID / ID tags"),
    }
    validators_columns = {"phone": [_phone_free]}
    related_views = [VehicleView]
    base_order = ("name", "asc")

    def _apply(self, item: Customer) -> None:
        data = {
            "name": item.name, "phone": item.phone or None, "phones": item.extra_phones or "",
            "email": item.email, "address": item.address, "notes": item.notes, "tags": item.tag_numbers or "",
        }
        if item in db.session:
            db.session.expunge(item)  # the form wrote raw values on it; the service applies clean ones
        if item.id is None:
            customer_service.create_customer(db.session, data, g.user.id)
        else:
            customer_service.update_customer(db.session, item.id, data, g.user.id)

    def pre_add(self, item):
        self._apply(item)

    def pre_update(self, item):
        self._apply(item)

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        return redirect(url_for("CustomerSearchView.page", customer_id=pk))


class ArchivedCustomerView(RestoreAction, ResourceModelView):
    datamodel = SQLAInterface(Customer)
    class_permission_name = "Customer"
    include_route_methods = {"list", "download", "action", "action_post"}
    base_filters = ARCHIVED_ONLY
    list_title = "Archived customers"
    list_columns = ["name", "phone", "email", "created_at"]
    search_columns = ["name", "phone", "email"]


class CustomerSearchView(BaseView):
    """Find a customer by any written form of a phone, an email, a tag, a plate or a name; the customer page."""

    route_base = "/customer"
    class_permission_name = "CustomerSearch"
    method_permission_name = {"find": "read", "page": "read"}
    default_view = "find"

    @expose("/find")
    @has_access
    def find(self):
        text = (request.args.get("q") or "").strip()
        customers = customer_service.search_customers(db.session, text) if text else []
        if len(customers) == 1 and text:
            return redirect(url_for("CustomerSearchView.page", customer_id=customers[0].id))
        balances = {}
        if customers:
            balances = dict(db.session.execute(
                select(Wallet.customer_id, Wallet.balance).where(
                    Wallet.customer_id.in_([c.id for c in customers]),
                    Wallet.currency == customer_service.default_currency(),
                )
            ).all())
        return self.render_template("customers/find.html", q=text, customers=customers, balances=balances,
                                    currency=customer_service.default_currency())

    @expose("/<int:customer_id>")
    @has_access
    def page(self, customer_id):
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            abort(404)
        return self.render_template(
            "customers/page.html", customer=customer, balance=customer_service.balance_of(db.session, customer.id),
            currency=customer_service.default_currency(), panels=customer_panels(db.session, customer),
            can_top_up=self.appbuilder.sm.has_access("can_write", "TopUp"),
            can_edit=self.appbuilder.sm.has_access("can_write", "Customer"),
        )


# --- wallets and the audit trail --------------------------------------------------------------


class WalletView(ReadOnlyModelView):
    datamodel = SQLAInterface(Wallet)
    class_permission_name = "Wallet"
    list_columns = ["customer", "currency", "balance", "updated_at"]
    search_columns = ["customer_id", "currency", "balance", "updated_at"]  # ids: a dropdown of every customer would not scale
    base_order = ("id", "desc")


class WalletEntryView(ReadOnlyModelView):
    """The wallet audit trail: every ledger entry, filterable, exportable to Excel; never editable."""

    datamodel = SQLAInterface(WalletEntry)
    class_permission_name = "WalletEntry"
    method_permission_name = {**VIEW_METHOD_PERMISSIONS, "export": "read"}
    list_title = "Wallet audit trail"
    list_template = "customers/ledger_list.html"
    list_columns = ["id", "created_at", "wallet", "entry_type", "amount", "balance_after", "reason", "source",
                    "reverses_id", "created_by"]
    show_columns = list_columns
    search_columns = ["wallet_id", "entry_type", "created_at", "amount", "reason", "source_type", "source_ref", "created_by"]
    label_columns = {"created_at": "When", "reverses_id": "Reverses #", "created_by": "By", "id": "#", "wallet_id": "Wallet #"}
    base_order = ("id", "desc")

    @expose("/export")
    @has_access
    def export(self):
        """The audit trail with the list's current filters, as an Excel workbook."""
        get_filter_args(self._filters)
        # each entry's wallet, customer and author come with it: one query, not one per wallet and person
        query = db.session.query(WalletEntry).options(
            joinedload(WalletEntry.wallet).joinedload(Wallet.customer), joinedload(WalletEntry.created_by))
        entries = self.datamodel.apply_all(query, self._filters, "id", "desc", page=0, page_size=EXPORT_LIMIT).all()
        data = ledger_workbook(entries)
        name = f"wallet-audit-{datetime.utcnow():%Y%m%d-%H%M}.xlsx"
        return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# --- payments ------------------------------------------------------------------------------------


class PaymentView(ReadOnlyModelView):
    datamodel = SQLAInterface(Payment)
    class_permission_name = "Payment"
    list_columns = ["paid_at", "provider", "provider_ref", "status", "amount", "currency", "customer"]
    show_columns = list_columns + ["description", "created_at"]
    search_columns = ["provider", "status", "paid_at", "customer_id", "provider_ref", "amount"]
    label_columns = {"paid_at": "Paid", "provider_ref": "Reference", "customer_id": "Customer #"}
    base_order = ("paid_at", "desc")


class SettlementImportView(BaseView):
    """Upload a provider's settlement CSV; see what each import created, updated and rejected."""

    route_base = "/settlements"
    class_permission_name = "SettlementImport"
    method_permission_name = {"imports": "read", "upload": "write"}
    default_view = "imports"

    def _render(self, report=None):
        imports = db.session.scalars(select(SettlementImport).order_by(SettlementImport.id.desc()).limit(30)).all()

        return self.render_template("customers/settlements.html", imports=imports, report=report,
                                    providers=[p for p in PROVIDERS if p != "Manual"])

    @expose("/")
    @has_access
    def imports(self):
        return self._render()

    @expose("/upload", methods=["POST"])
    @has_access
    def upload(self):
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("Choose the provider's settlement CSV file.", "danger")
            return self._render()
        try:
            report = payments_service.import_settlement_csv(
                db.session, request.form.get("provider", ""), upload.read(), filename=upload.filename, user_id=g.user.id
            )
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return self._render()
        flash(f"{report.provider}: {report.created} new, {report.updated} updated, {report.unchanged} unchanged, "
              f"{len(report.rejected)} rejected", "success" if not report.rejected else "warning")
        return self._render(report)


# --- manual top-ups (maker-checker) ---------------------------------------------------------


class TopUpView(ReadOnlyModelView):
    datamodel = SQLAInterface(TopUp)
    class_permission_name = "TopUp"
    list_columns = ["created_at", "customer", "amount", "receipt_no", "status", "created_by", "decided_by", "decided_at"]
    show_columns = list_columns + ["reason", "receipt_filename", "entry"]
    search_columns = ["customer_id", "status", "receipt_no", "created_at", "amount", "created_by"]
    label_columns = {"created_by": "Entered by", "decided_by": "Approved/rejected by", "receipt_no": "Receipt"}
    base_order = ("id", "desc")


class TopUpDeskView(BaseView):
    """Enter a manual top-up against a receipt; approve or reject the ones waiting for a second person."""

    route_base = "/topups"
    class_permission_name = "TopUp"
    method_permission_name = {"desk": "read", "create": "write", "approve": "write", "reject": "write", "receipt": "read",
                              "who": "read"}
    default_view = "desk"

    def _render(self, form=None, status=200):
        recent = db.session.scalars(select(TopUp).order_by(TopUp.id.desc()).limit(20)).all()
        customer = None
        customer_id = (form or {}).get("customer_id") or request.args.get("customer_id")
        if customer_id and str(customer_id).isdigit():
            customer = db.session.get(Customer, int(customer_id))
        return self.render_template(
            "customers/topups.html", form=form or {}, customer=customer, pending=customers_topups.pending_topups(db.session),
            recent=recent, threshold=customers_topups.approval_threshold(), currency=customer_service.default_currency(),
            me=g.user.id,
        ), status

    @expose("/")
    @has_access
    def desk(self):
        return self._render()

    @expose("/who")
    @has_access
    def who(self):
        """Whom the typed phone or #id credits (HTML fragment for static/js/topup_customer.js), before crediting."""
        ref = (request.args.get("customer") or "").strip()
        customer = error = None
        try:
            customer = db.session.get(Customer, self._customer_id(ref)) if ref else None
            if ref and customer is None:
                error = f"no customer {ref}"
        except ServiceError as exc:
            error = exc.message
        balance = customer_service.balance_of(db.session, customer.id) if customer else None
        return self.render_template("customers/_topup_customer.html", ref=ref, customer=customer, error=error,
                                    balance=balance, currency=customer_service.default_currency())

    @expose("/new", methods=["POST"])
    @has_access
    def create(self):
        form = request.form.to_dict()
        customer_ref = (form.get("customer") or form.get("customer_id") or "").strip()
        upload = request.files.get("receipt")
        receipt = (upload.filename, upload.read()) if upload is not None and upload.filename else None
        try:
            customer_id = self._customer_id(customer_ref)
            form["customer_id"] = customer_id
            topup, created = customers_topups.top_up_wallet(
                db.session, customer_id, form.get("amount"), form.get("receipt_no"), form.get("note"),
                user_id=g.user.id, receipt=receipt,
            )
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return self._render(form, 400)
        if not created:
            flash(f"Receipt {topup.receipt_no} was already entered (top-up #{topup.id}); nothing was credited again.", "warning")
        elif topup.status == TOPUP_PENDING:
            flash(f"Top-up #{topup.id} of {topup.amount:,.2f} is above the approval threshold: "
                  f"it waits for a second person's approval.", "warning")
        else:
            flash(f"Credited {topup.amount:,.2f} {topup.currency} to {topup.customer.name}; "
                  f"balance {topup.entry.balance_after:,.2f}.", "success")
        return redirect(url_for("CustomerSearchView.page", customer_id=topup.customer_id))

    def _customer_id(self, ref: str) -> int:
        if not ref:
            raise InvalidInput("choose the customer (phone number or customer #)")
        if ref.lstrip("#").isdigit() and len(ref.lstrip("#")) < 9:
            return int(ref.lstrip("#"))
        customer = customer_service.find_by_phone(db.session, ref)
        if customer is None:
            raise InvalidInput(f"no customer with phone '{ref}'")
        return customer.id

    @expose("/<int:topup_id>/approve", methods=["POST"])
    @has_access
    @form_action(lambda topup_id: url_for("TopUpDeskView.desk"))
    def approve(self, topup_id):
        topup = customers_topups.approve_topup(db.session, topup_id, user_id=g.user.id)
        return f"Approved: {topup.amount:,.2f} credited to {topup.customer.name}."

    @expose("/<int:topup_id>/reject", methods=["POST"])
    @has_access
    @form_action(lambda topup_id: url_for("TopUpDeskView.desk"))
    def reject(self, topup_id):
        customers_topups.reject_topup(db.session, topup_id, user_id=g.user.id, reason=request.form.get("reason"))
        return Done(f"Top-up #{topup_id} rejected; nothing was credited.", category="info")

    @expose("/<int:topup_id>/receipt")
    @has_access
    def receipt(self, topup_id):
        topup = db.session.get(TopUp, topup_id)
        if topup is None or not topup.receipt_file:
            abort(404)
        return send_file(receipt_path(topup.receipt_file), mimetype=topup.receipt_content_type, as_attachment=True,
                         download_name=topup.receipt_filename or topup.receipt_file)


def register(appbuilder) -> None:
    contacts, finance = "Contacts", "Finance"
    appbuilder.add_view(CustomerSearchView, "CustomerSearch", label="Find a customer", icon="fa-search", category=contacts)
    appbuilder.add_view(CustomerView, "Customer", label="Customers", icon="fa-address-book", category=contacts)
    appbuilder.add_view_no_menu(ArchivedCustomerView)
    appbuilder.add_link("Customer", href="ArchivedCustomerView.list", label="Archived customers", icon="fa-archive", category=contacts)
    appbuilder.add_view_no_menu(VehicleView)
    appbuilder.add_view(TopUpDeskView, "TopUp", label="Manual top-ups", icon="fa-money", category=finance)
    appbuilder.add_view_no_menu(TopUpView)
    appbuilder.add_view(WalletView, "Wallet", label="Wallet balances", icon="fa-credit-card", category=finance)
    appbuilder.add_view(WalletEntryView, "WalletEntry", label="Wallet audit trail", icon="fa-list", category=finance)
    appbuilder.add_view(PaymentView, "Payment", label="Payments", icon="fa-exchange", category=finance)
    appbuilder.add_view(SettlementImportView, "SettlementImport", label="Settlement imports", icon="fa-upload",
                        category=finance)
