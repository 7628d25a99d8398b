"""The screens answer bad list parameters and download names with a 4xx or the page, never a 5xx."""
from __future__ import annotations

import pytest


def _model_views(app):
    from flask_appbuilder import ModelView

    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelView)]


def test_ordering_any_list_by_any_column_or_relation_is_never_a_5xx(app, web_as):
    browser = web_as("admin")
    failures = []
    for view in _model_views(app):
        model = view.datamodel.obj
        columns = set(view.list_columns or []) | {r.key for r in model.__mapper__.relationships} | {"nope", "id.x"}
        for column in sorted(columns):
            for direction in ("desc", "sideways"):
                url = f"{view.route_base}/list/?_oc_{view.__class__.__name__}={column}&_od_{view.__class__.__name__}={direction}"
                status = browser.get(url).status_code
                if status >= 500:
                    failures.append((url, status))
    assert not failures, failures[:20]


@pytest.mark.parametrize("name", ["csv", "x", "../../etc/passwd", "%00"])
def test_every_download_route_is_never_a_5xx(app, web_as, name):
    browser = web_as("admin")
    failures = []
    for view in _model_views(app):
        status = browser.get(f"{view.route_base}/download/{name}").status_code
        if status >= 500:
            failures.append((view.route_base, status))
    assert not failures, failures
