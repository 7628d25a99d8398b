"""Defect 3 (the rest): customers and chargers are archived, not deleted, from the screens and the API;
archived ones leave the daily lists and come back from the Archived lists. Teams, people, templates,
notification groups and OEMs have their `active` box on both (checked here too)."""
from __future__ import annotations

from sqlalchemy import select

from app.models.chargers import Charger
from app.models.customers import Customer
from tests.conftest import csrf_token


def _action(web, list_url, name, pk):
    page = web.get("/resetmypassword/form").get_data(as_text=True)  # any form: the token is per session
    view = list_url.strip("/").split("/")[0]
    return web.post(f"/{view}/action_post", data={"action": name, "rowid": [str(pk)], "csrf_token": csrf_token(page)})


def test_a_customer_is_archived_and_restored(api_as, web_as, session):
    api = api_as("manager")
    created = api.post("/api/v1/customers/", json={"name": "Archie Fernando", "phone": "0771112233"}).json
    pk = created["id"]
    web = web_as("manager")
    assert "Archie Fernando" in web.get("/customerview/list/").get_data(as_text=True)
    archived = api.put(f"/api/v1/customers/{pk}", json={"active": False})
    assert archived.status_code == 200 and archived.json["result"]["active"] is False
    assert "Archie Fernando" not in web.get("/customerview/list/").get_data(as_text=True)
    assert "Archie Fernando" in web.get("/archivedcustomerview/list/").get_data(as_text=True)
    assert api.get(f"/api/v1/customers/{pk}").json["result"]["active"] is False  # history stays reachable
    assert api.put(f"/api/v1/customers/{pk}", json={"active": "no"}).status_code == 400
    assert _action(web, "/archivedcustomerview/list/", "restore", pk).status_code == 302
    session.rollback()
    assert session.get(Customer, pk).active is True
    assert _action(web, "/customerview/list/", "archive", pk).status_code == 302
    session.rollback()
    assert session.get(Customer, pk).active is False


def test_a_charger_is_archived_and_leaves_the_network_lists(api_as, web_as, session):
    session.add_all([Charger(cid="ARC-1", name="Old charger", type="L2"), Charger(cid="ARC-2", name="Live charger", type="L2")])
    session.commit()
    pk = session.scalar(select(Charger.id).where(Charger.cid == "ARC-1"))
    api = api_as("cpo")
    before = api.get("/api/v1/network/summary").json["L2"]
    assert api.put(f"/api/v1/chargers/{pk}", json={"active": False}).status_code == 200
    after = api.get("/api/v1/network/summary").json["L2"]
    assert sum(after.values()) == sum(before.values()) - 1
    listed = api.get("/api/v1/network/chargers").json
    assert [c["cid"] for c in listed["result"]] == ["ARC-2"] and listed["count"] == 1
    web = web_as("cpo")
    assert "ARC-1" not in web.get("/chargerview/list/").get_data(as_text=True)
    assert "ARC-1" in web.get("/archivedchargerview/list/").get_data(as_text=True)
    assert _action(web, "/archivedchargerview/list/", "restore", pk).status_code == 302
    session.rollback()
    assert session.get(Charger, pk).active is True
    assert web_as("agent").get("/archivedchargerview/list/").status_code == 200  # readers see it, cannot restore
    assert _action(web_as("agent"), "/archivedchargerview/list/", "restore", pk).status_code == 302  # refused: a flash, nothing restored
    session.rollback()
    assert session.get(Charger, pk).active is True


def test_everything_with_history_has_an_active_box(app):
    from flask_appbuilder import ModelView
    from flask_appbuilder.api import ModelRestApi

    names = {"FieldTeam", "TeamMember", "MessageTemplate", "NotificationGroup", "Oem", "Customer", "Charger"}
    missing = [
        f"{type(v).__name__}" for v in app.appbuilder.baseviews
        if isinstance(v, (ModelView, ModelRestApi)) and v.class_permission_name in names
        and getattr(v, "edit_columns", None) and "active" not in v.edit_columns
        and getattr(v, "datamodel", None) is not None and "active" in v.datamodel.obj.__table__.c
        and not type(v).__name__.startswith("Archived") and not hasattr(v, "archive")  # or an Archive action
    ]
    assert missing == []
