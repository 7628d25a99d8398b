"""Walk the permission matrix: every role against every view and API, allowed or refused as declared."""
from __future__ import annotations

import pytest
from flask import url_for
from flask_appbuilder import ModelView
from flask_appbuilder.api import ModelRestApi

from app.demo.people import DEMO_USERS
from app.security import ADMIN, COMMON_GRANTS, PERMISSION_MATRIX, READ, ROLES, WRITE

USER_FOR_ROLE = {}
for _username, (_role, *_rest) in DEMO_USERS.items():
    USER_FOR_ROLE.setdefault(_role, _username)

FAB_INTERNAL = {
    "UserDBModelView", "RoleModelView", "UserGroupModelView", "PermissionModelView", "ViewMenuModelView",
    "PermissionViewModelView", "UserStatsChartView", "ResetPasswordView", "ResetMyPasswordView",
    "UserInfoEditView", "AuthDBView", "UtilView", "LocaleView", "SecurityApi", "MenuApi", "OpenApi",
    "SwaggerView", "Permission", "Role", "User", "ViewMenu", "PermissionViewMenu", "Group", "ApiKey",
    "RegisterUserModelView", "HomeView",
}
COMMON = {g[0].strip("^$") for g in COMMON_GRANTS}


def expected(role: str, resource: str) -> str | None:
    if role == ADMIN:
        return WRITE
    return PERMISSION_MATRIX.get(resource, {}).get(role)


def test_every_view_and_api_is_declared_in_the_matrix(app):
    undeclared = sorted(
        {
            v.class_permission_name
            for v in app.appbuilder.baseviews
            if v.class_permission_name not in PERMISSION_MATRIX
            and v.class_permission_name not in FAB_INTERNAL
            and v.class_permission_name not in COMMON
        }
    )
    assert undeclared == [], f"views/APIs with no row in PERMISSION_MATRIX: {undeclared}"


def test_every_role_has_a_demo_user():
    assert set(ROLES) <= set(USER_FOR_ROLE)


def _model_apis(app):
    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelRestApi) and v.class_permission_name in PERMISSION_MATRIX]


def _model_views(app):
    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelView) and v.class_permission_name in PERMISSION_MATRIX]


@pytest.mark.parametrize("role", ROLES)
def test_apis_allow_and_refuse_exactly_as_declared(app, api_as, role):
    api = api_as(USER_FOR_ROLE[role])
    wrong = []
    for view in _model_apis(app):
        access = expected(role, view.class_permission_name)
        listed = api.get(f"/api/v1/{view.resource_name}/")
        if (listed.status_code == 200) != (access in (READ, WRITE)):
            wrong.append(f"GET {view.resource_name}: {listed.status_code}, declared {access}")
        if "post" in view.include_route_methods if view.include_route_methods else True:
            created = api.post(f"/api/v1/{view.resource_name}/", json={})
            refused = created.status_code in (401, 403, 405)
            if refused == (access == WRITE) and created.status_code != 405:
                wrong.append(f"POST {view.resource_name}: {created.status_code}, declared {access}")
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_screens_allow_and_refuse_exactly_as_declared(app, web_as, role):
    browser = web_as(USER_FOR_ROLE[role])
    wrong = []
    for view in _model_views(app):
        with app.test_request_context():
            url = url_for(f"{view.__class__.__name__}.list")
        response = browser.get(url)
        allowed = response.status_code == 200
        if allowed != (expected(role, view.class_permission_name) is not None):
            wrong.append(f"{url}: {response.status_code}, declared {expected(role, view.class_permission_name)}")
    assert wrong == []


@pytest.mark.parametrize("role", [r for r in ROLES if r != ADMIN])
def test_only_admin_manages_users_and_roles(web_as, role):
    browser = web_as(USER_FOR_ROLE[role])
    assert browser.get("/users/list/").status_code == 403
    assert browser.get("/roles/list/").status_code == 403


def test_menu_shows_only_what_the_role_may_open(web_as):
    finance = web_as("finance").get("/").get_data(as_text=True)
    manager = web_as("manager").get("/").get_data(as_text=True)
    assert "Field teams" in finance and "Departments" not in finance and "Security" not in finance
    assert "Departments" in manager and "Activity log" in manager
    admin = web_as("admin").get("/").get_data(as_text=True)
    assert "List Users" in admin


@pytest.mark.parametrize("role", ROLES)
def test_chart_views_allow_and_refuse_exactly_as_declared(app, web_as, role):
    from flask_appbuilder.charts.views import BaseChartView

    browser = web_as(USER_FOR_ROLE[role])
    wrong = []
    for view in [v for v in app.appbuilder.baseviews if isinstance(v, BaseChartView) and v.class_permission_name in PERMISSION_MATRIX]:
        with app.test_request_context():
            url = url_for(f"{view.__class__.__name__}.chart")
        response = browser.get(url)
        if (response.status_code == 200) != (expected(role, view.class_permission_name) is not None):
            wrong.append(f"{url}: {response.status_code}, declared {expected(role, view.class_permission_name)}")
    assert wrong == []
