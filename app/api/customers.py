"""Customers over REST: customers (+ lookup), payments (+ settlement import), wallet top-ups and ledger actions."""
from __future__ import annotations

from flask import g, request
from flask_appbuilder.api import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name, protect
from flask_login import current_user

from app.api.base import API_METHOD_PERMISSIONS, ActionApi, ResourceApi, service_errors
from app.api.schemas import CustomerInput, RejectInput, ReverseInput, TopUpInput, WalletActionInput, load_input
from app.extensions import db
from app.models.customers import Customer, Payment, TopUp, WalletEntry
from app.services import InvalidInput, NotFound
from app.services import customers as customer_service
from app.services import customers_payments as payments
from app.services import customers_topups, customers_wallet


def current_user_id():
    user = getattr(g, "user", None) or current_user
    return user.id if user is not None and user.is_authenticated else None


class CustomerApi(ResourceApi):
    resource_name = "customers"
    class_permission_name = "Customer"
    datamodel = SQLAInterface(Customer)
    method_permission_name = {**API_METHOD_PERMISSIONS, "lookup": "read"}
    include_route_methods = {"get", "get_list", "info", "post", "put", "lookup"}
    list_columns = ["id", "name", "phone", "email", "address", "created_at", "active"]
    show_columns = [
        "id", "name", "phone", "phones.phone", "email", "address", "notes", "tags.tag",
        "vehicles.make", "vehicles.model", "vehicles.plate", "created_at", "active",
    ]
    add_columns = ["name", "phone", "email", "address", "notes"]
    edit_columns = add_columns + ["active"]  # {"active": false} archives (a customer with history is never deleted)
    search_columns = ["name", "phone", "email", "created_at", "active"]
    order_columns = ["id", "name", "created_at"]

    @service_errors
    def post_headless(self):
        customer = customer_service.create_customer(db.session, load_input(CustomerInput), current_user_id())
        db.session.commit()
        return self.response(201, id=customer.id, result=customer_service.customer_summary(customer))

    @service_errors
    def put_headless(self, pk):
        try:
            pk = int(pk)
        except ValueError:
            return self.response_404()
        if db.session.get(Customer, pk) is None:
            return self.response_404()
        customer = customer_service.update_customer(db.session, pk, load_input(CustomerInput), current_user_id())
        db.session.commit()
        return self.response(200, id=customer.id, result=customer_service.customer_summary(customer))

    @expose("/lookup", methods=["GET"])
    @protect()
    @permission_name("get")
    @service_errors
    def lookup(self):
        """The customers matching a phone (any written form) or an email, with wallet balance.
        ---
        get:
          parameters:
          - {in: query, name: phone, schema: {type: string}}
          - {in: query, name: email, schema: {type: string}}
          responses:
            200: {description: matching customers}
            400: {description: neither phone nor email, or not a phone number}
        """
        result = customer_service.lookup_customers(
            db.session, phone=request.args.get("phone"), email=request.args.get("email")
        )
        return self.response(200, count=len(result), result=result)


class PaymentApi(ResourceApi):
    resource_name = "payments"
    class_permission_name = "Payment"
    datamodel = SQLAInterface(Payment)
    method_permission_name = {**API_METHOD_PERMISSIONS, "import_settlement": "write"}
    include_route_methods = {"get", "get_list", "info", "import_settlement"}
    list_columns = ["id", "provider", "provider_ref", "status", "amount", "currency", "customer_id", "customer.name", "paid_at"]
    show_columns = list_columns + ["description", "created_at"]
    search_columns = ["provider", "provider_ref", "status", "paid_at", "customer", "amount"]
    order_columns = ["id", "paid_at", "amount", "provider", "status"]
    base_order = ("paid_at", "desc")

    @expose("/import", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def import_settlement(self):
        """Import a provider's settlement CSV (multipart `file` + `provider`, or a text/csv body with ?provider=).
        ---
        post:
          responses:
            200: {description: the import report with created/updated/unchanged counts and rejected rows}
            400: {description: no file, unknown provider, unreadable CSV}
        """
        provider = request.args.get("provider") or request.form.get("provider") or ""
        upload = request.files.get("file")
        if upload is not None:
            content, filename = upload.read(), upload.filename or "settlement.csv"
        else:
            content, filename = request.get_data(), request.args.get("filename") or "settlement.csv"
        if not content:
            raise InvalidInput("send the settlement CSV as the `file` field or as the request body")
        report = payments.import_settlement_csv(db.session, provider, content, filename=filename, user_id=current_user_id())
        db.session.commit()
        return self.response(200, **report.as_dict())


class WalletEntryApi(ResourceApi):
    """The ledger, read-only: entries are only ever appended by the wallet actions."""

    resource_name = "wallet_entries"
    class_permission_name = "WalletEntry"
    datamodel = SQLAInterface(WalletEntry)
    include_route_methods = {"get", "get_list", "info"}
    list_columns = [
        "id", "wallet_id", "wallet.customer_id", "wallet.currency", "entry_type", "amount", "balance_after",
        "reason", "source_type", "source_ref", "reverses_id", "created_by.username", "created_at",
    ]
    show_columns = list_columns
    search_columns = ["wallet", "entry_type", "created_at", "source_type", "source_ref", "created_by"]
    base_order = ("id", "desc")


class TopUpApi(ActionApi):
    """Manual top-ups: POST /api/v1/wallet/topups (contract), and the checker's approve/reject."""

    resource_name = "wallet"
    class_permission_name = "TopUp"
    method_permission_name = {
        **API_METHOD_PERMISSIONS, "create_topup": "write", "approve": "write", "reject": "write", "show_topup": "read",
    }

    @expose("/topups", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def create_topup(self):
        """Credit a wallet once per receipt_no (201); a repeat returns the first result (200).
        ---
        post:
          requestBody:
            content:
              application/json:
                schema: {type: object, properties: {customer_id: {type: integer}, amount: {type: string},
                         receipt_no: {type: string}, note: {type: string}}}
              multipart/form-data:
                schema: {type: object, properties: {receipt: {type: string, format: binary}}}
          responses:
            201: {description: top-up created (credited, or waiting for approval above the threshold)}
            200: {description: this receipt_no was already used; the first top-up, nothing credited}
            400: {description: bad amount, unknown customer, bad receipt file}
        """
        data = load_input(TopUpInput)
        upload = request.files.get("receipt") or request.files.get("receipt_file")
        receipt = (upload.filename, upload.read()) if upload is not None else None
        topup, created = customers_topups.top_up_wallet(
            db.session, data.get("customer_id"), data.get("amount"), data.get("receipt_no"), data.get("note"),
            user_id=current_user_id(), receipt=receipt,
        )
        db.session.commit()
        return self.response(201 if created else 200, id=topup.id, result=customers_topups.topup_result(topup))

    @expose("/topups/<int:topup_id>", methods=["GET"])
    @protect()
    @permission_name("get")
    @service_errors
    def show_topup(self, topup_id):
        topup = db.session.get(TopUp, topup_id)
        if topup is None:
            raise NotFound(f"top-up {topup_id} not found")
        return self.response(200, id=topup.id, result=customers_topups.topup_result(topup))

    @expose("/topups/<int:topup_id>/approve", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def approve(self, topup_id):
        """The checker (a different person than the maker) credits a top-up waiting for approval."""
        topup = customers_topups.approve_topup(db.session, topup_id, user_id=current_user_id())
        db.session.commit()
        return self.response(200, id=topup.id, result=customers_topups.topup_result(topup))

    @expose("/topups/<int:topup_id>/reject", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def reject(self, topup_id):
        data = load_input(RejectInput)
        topup = customers_topups.reject_topup(db.session, topup_id, user_id=current_user_id(), reason=data.get("reason"))
        db.session.commit()
        return self.response(200, id=topup.id, result=customers_topups.topup_result(topup))


class WalletActionApi(ActionApi):
    """Debits, refunds, adjustments and reversals: each one ledger entry with who and why."""

    resource_name = "wallet"
    class_permission_name = "WalletEntry"
    method_permission_name = {
        **API_METHOD_PERMISSIONS, "charge": "write", "refund": "write", "adjust": "write", "reverse": "write",
    }

    def _entry_response(self, entry, created: bool):
        db.session.commit()
        return self.response(201 if created else 200, id=entry.id, result=customers_wallet.entry_result(entry))

    def _post(self, operation):
        data = load_input(WalletActionInput)
        entry, created = operation(
            db.session, data.get("customer_id"), data.get("amount"), user_id=current_user_id(),
            reason=data.get("reason"), reference=data.get("reference"), currency=data.get("currency"),
        )
        return self._entry_response(entry, created)

    @expose("/charges", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def charge(self):
        """Debit a wallet `{customer_id, amount, reason, reference}`; 409 when the balance is too low.
        ---
        post:
          responses:
            201: {description: charged}
            200: {description: this reference was already charged; the first entry}
            409: {description: insufficient balance}
        """
        return self._post(customers_wallet.charge_wallet)

    @expose("/refunds", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def refund(self):
        return self._post(customers_wallet.refund)

    @expose("/adjustments", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def adjust(self):
        return self._post(customers_wallet.adjust_wallet)

    @expose("/entries/<int:entry_id>/reverse", methods=["POST"])
    @protect()
    @permission_name("post")
    @service_errors
    def reverse(self, entry_id):
        """Reverse a ledger entry `{reason}` (once): the correction for any mistake."""
        data = load_input(ReverseInput)
        entry = customers_wallet.reverse_entry(db.session, entry_id, user_id=current_user_id(), reason=data.get("reason"))
        return self._entry_response(entry, True)


def register(appbuilder) -> None:
    for api in (CustomerApi, PaymentApi, WalletEntryApi, TopUpApi, WalletActionApi):
        appbuilder.add_api(api)
