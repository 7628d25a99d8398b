"""Every role against the routes the matrix walk does not reach by name: FAB's `_info` (related-value
lists), any `related/<col>` / `distinct/<col>` route, file downloads, and an OEM's view of the whole app.

Routes are discovered from the app's url_map, so a route added later is walked as soon as its view
has a row in PERMISSION_MATRIX.
"""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import pytest
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.baseviews import BaseModelView
from sqlalchemy import select

from app.security import OEM, PERMISSION_MATRIX, READ, ROLES, WRITE
from tests.test_security_matrix import USER_FOR_ROLE, expected

META_ROUTE = re.compile(r"/(_info|related/<[^>]+>|distinct/<[^>]+>)$")
FILE_ROUTE = re.compile(r"download|/file/|/media/|\.zip$|\.pdf$|\.xlsx$|/export$|/report/|/ledger$")
REFUSED = (302, 401, 403, 404)


def _views_by_endpoint(app):
    return {view.__class__.__name__: view for view in app.appbuilder.baseviews}


def _declared_routes(app, pattern):
    """(rule, view) for every GET route matching `pattern` whose view has a row in the matrix."""
    views = _views_by_endpoint(app)
    found = []
    for rule in app.url_map.iter_rules():
        view = views.get(rule.endpoint.split(".")[0])
        if "GET" in rule.methods and pattern.search(rule.rule) and view is not None:
            if view.class_permission_name in PERMISSION_MATRIX:
                found.append((rule, view))
    return sorted(found, key=lambda pair: pair[0].rule)


def _build(rule, value):
    return rule.build({name: value for name in rule.arguments}, append_unknown=False)[1]


def _readers_of(app, model) -> set[str]:
    """Resource names of every screen or API that lists `model`."""
    return {
        v.class_permission_name for v in app.appbuilder.baseviews
        if isinstance(v, (ModelRestApi, BaseModelView)) and getattr(v, "datamodel", None) is not None
        and v.datamodel.obj is model
    }


def test_the_walk_finds_the_info_routes(app):
    assert {v.resource_name for _, v in _declared_routes(app, META_ROUTE)} >= {"leads", "jobs", "customers", "members"}


@pytest.mark.parametrize("role", ROLES)
def test_info_related_and_distinct_follow_the_matrix(app, api_as, session, role):
    """Related values only for a role that may write the field and may list the related rows."""
    from app.demo.installations import seed_reference

    seed_reference(session)
    session.commit()
    api = api_as(USER_FOR_ROLE[role])
    wrong = []
    for rule, view in _declared_routes(app, META_ROUTE):
        access = expected(role, view.class_permission_name)
        columns = [None] if not rule.arguments else list(view.add_columns or []) or ["id"]
        for column in columns:
            url = _build(rule, column) if column else rule.rule
            response = api.get(url)
            if access is None:
                if response.status_code not in REFUSED:
                    wrong.append(f"{url}: {response.status_code}, declared nothing")
                continue
            if response.status_code >= 500 or (rule.rule.endswith("_info") and response.status_code != 200):
                wrong.append(f"{url}: {response.status_code}, declared {access}")
                continue
            for key in ("add_columns", "edit_columns"):
                for field in (response.json or {}).get(key, []):
                    if not field.get("values"):
                        continue
                    if access != WRITE:
                        wrong.append(f"{url} {key}.{field['name']}: values for a {access}-only role")
                    related = view.datamodel.get_related_model(field["name"])
                    if not any(expected(role, name) for name in _readers_of(app, related)):
                        wrong.append(f"{url} {key}.{field['name']}: {related.__name__} rows the role may not list")
    assert wrong == []


def test_a_manager_still_gets_the_choices_of_what_he_writes(api_as):
    info = api_as("manager").get("/api/v1/members/_info").json
    departments = next(f for f in info["add_columns"] if f["name"] == "department")
    assert {v["value"] for v in departments["values"]} >= {"Hotline", "Technical"}


@pytest.mark.parametrize("role", ROLES)
def test_file_routes_are_refused_to_undeclared_roles(app, web_as, api_as, role):
    """Every download/file route: refused unless the role may read the resource; never a 5xx."""
    browser = web_as(USER_FOR_ROLE[role])
    api = api_as(USER_FOR_ROLE[role])
    wrong = []
    for rule, view in _declared_routes(app, FILE_ROUTE):
        url = _build(rule, "999999" if not rule.arguments or any(
            type(rule._converters[a]).__name__ != "IntegerConverter" for a in rule.arguments) else 999999)
        client = api if rule.rule.startswith("/api/") else browser
        response = client.get(url)
        declared = expected(role, view.class_permission_name)
        if response.status_code >= 500:
            wrong.append(f"{url}: {response.status_code}")
        elif declared is None and response.status_code not in REFUSED:
            wrong.append(f"{url}: {response.status_code}, declared nothing")
        elif response.status_code == 200 and rule.arguments:
            wrong.append(f"{url}: 200 for a file that does not exist")
    assert wrong == []


# --- OEM isolation ----------------------------------------------------------------------------------
OTHER_OEM_SECRETS = ["MG-ISO-7", "Zhang Mingyu", "0775550123", "+94775550123", "MG Motor"]
NON_OEM_SECRETS = ["Kamala Wijesinghe", "+94770000999", "0770000999"]
STAFF_NAMES = ["Nimal Fernando", "Dilani Silva", "Amara Perera", "Li Wei"]
SKIP = re.compile(r"^/(logout|lang|static|back)|swagger")


@pytest.fixture
def two_oems(app, api_as, session):
    """Leads of both OEMs (each with its job and customer), a non-OEM customer, and an MG report."""
    from app.demo.installations import seed_reference
    from app.models.customers import Customer
    from app.models.installations import InstallationJob, Lead, OemReport

    refs = seed_reference(session)
    session.add(Customer(name="Kamala Wijesinghe", phone="+94770000999", email="kamala@example.lk"))
    session.commit()
    lead = lambda user, ref, name, phone: api_as(user).post("/api/v1/leads/", json={  # noqa: E731
        "oem_ref": ref, "customer_name": name, "phone": phone, "address": "1 Main Street", "district": "Colombo",
    })
    assert lead("oem_tata", "TM-ISO-1", "Sunil Perera", "0771234567").status_code == 201
    assert lead("oem_mg", "MG-ISO-7", "Zhang Mingyu", "0775550123").status_code == 201
    session.add(OemReport(oem_id=refs["oems"]["MG"].id, period="weekly", period_start=date(2026, 1, 5), period_end=date(2026, 1, 11),
                          stored_name="mg-weekly.xlsx", rows=1))
    session.commit()
    ids = set(session.scalars(select(Lead.id).where(Lead.oem_ref == "MG-ISO-7")))
    ids |= set(session.scalars(select(InstallationJob.id).join(Lead).where(Lead.oem_ref == "MG-ISO-7")))
    ids |= set(session.scalars(select(Customer.id).where(Customer.name.in_(["Kamala Wijesinghe", "Zhang Mingyu"]))))
    ids |= set(session.scalars(select(OemReport.id)))
    return sorted(ids)


def _text(response) -> str:
    """The body as text; a zip (xlsx, media bundle) is searched member by member."""
    data = response.get_data()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            data = b"".join(bundle.read(name) for name in bundle.namelist())
    return data.decode("utf-8", errors="replace")


def _oem_api_key(session) -> str:
    from app.extensions import appbuilder

    user = appbuilder.sm.find_user(username="oem_tata")
    return appbuilder.sm.create_api_key(user, "isolation probe")["key"]


def _get_urls(app, prefix_api: bool, ids):
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or SKIP.search(rule.rule) or rule.rule.startswith("/api/") != prefix_api:
            continue
        if not rule.arguments:
            yield rule.rule
            continue
        numeric = {a for a in rule.arguments if type(rule._converters[a]).__name__ in ("IntegerConverter", "FloatConverter")}
        for value in (ids if numeric else [None]):  # numbers take each seeded id, words a probe
            yield rule.build({a: (value if a in numeric else "probe") for a in rule.arguments}, append_unknown=False)[1]


def test_an_oem_token_never_sees_another_oems_data(app, client, api_as, web_as, session, two_oems):
    """oem_tata over every GET route, by JWT, by API key and by browser session: nothing of MG's
    leads, jobs, customers or reports, no non-OEM customer and (on the API) no staff names."""
    assert expected(OEM, "Lead") == WRITE and expected(OEM, "InstallationJob") == READ
    key = _oem_api_key(session)
    callers = {"jwt": api_as("oem_tata"), "api key": None}
    leaks = []
    own_seen = False
    for kind, caller in callers.items():
        for url in _get_urls(app, True, two_oems):
            if caller is None:
                response = client.get(url, headers={"Authorization": f"Bearer {key}"})
            else:
                response = caller.get(url)
            body = _text(response)
            own_seen |= "TM-ISO-1" in body
            for secret in OTHER_OEM_SECRETS + NON_OEM_SECRETS + STAFF_NAMES:
                if secret in body:
                    leaks.append(f"{kind} {url} ({response.status_code}): {secret}")
    browser = web_as("oem_tata")
    for url in _get_urls(app, False, two_oems):
        response = browser.get(url)
        body = _text(response)
        for secret in OTHER_OEM_SECRETS + NON_OEM_SECRETS:
            if secret in body:
                leaks.append(f"browser {url} ({response.status_code}): {secret}")
    assert own_seen, "the walk never reached the OEM's own lead"
    assert leaks == []
