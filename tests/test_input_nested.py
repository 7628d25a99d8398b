"""Related objects are named by id: nested writes are refused, so only Admin creates login accounts."""
from __future__ import annotations

from app.extensions import db


def test_a_manager_cannot_create_a_login_through_members(api_as, session):
    from flask_appbuilder.security.sqla.models import User

    before = session.query(User).count()
    response = api_as("manager").post("/api/v1/members/", json={
        "user": {"username": "intruder", "first_name": "I", "last_name": "N", "email": "i@example.com", "active": True},
        "phone": "+94770000999",
    })
    assert response.status_code == 400, response.json
    assert "nested" in response.json["message"]
    db.session.expire_all()
    assert session.query(User).count() == before
    assert session.query(User).filter_by(username="intruder").first() is None


def test_nested_department_and_unknown_ids_are_refused(api_as):
    api = api_as("manager")
    assert api.post("/api/v1/members/", json={"department": {"name": "Shadow"}}).status_code == 400
    assert api.post("/api/v1/members/", json={"user": 135450291}).status_code == 400
    assert api.post("/api/v1/field_teams/", json={"name": "T", "members": [{"username": "x"}]}).status_code == 400


def test_every_api_refuses_nested_writes_for_its_relations(app, api_as):
    """Walk every ModelRestApi whose add or edit columns hold a relation: a nested object is a 400."""
    from flask_appbuilder.api import ModelRestApi

    from app.api.base import ResourceApi

    checked = 0
    for view in app.appbuilder.baseviews:
        if not isinstance(view, ModelRestApi) or not view.resource_name or view.resource_name in ("users", "roles"):
            continue
        for column in set(view.add_columns or []) | set(view.edit_columns or []):
            if "." in column or not view.datamodel.is_relation(column):
                continue
            assert isinstance(view, ResourceApi) or view.__module__.startswith("flask_appbuilder"), view
            if isinstance(view, ResourceApi):
                assert view.nested_write_problem({column: {"name": "nested"}}), (view.resource_name, column)
                checked += 1
    assert checked >= 2
