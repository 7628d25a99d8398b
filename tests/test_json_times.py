"""One date-time format in every JSON body: the contracts' `2026-11-21T08:15:00Z`, generic CRUD included.
(Flask-AppBuilder's own user administration API, /api/v1/security/, keeps its own schemas.)"""
from __future__ import annotations

import re
from datetime import datetime

from app.api.base import ResourceApi
from app.models.chargers import Charger
from app.models.customers import Customer

CONTRACT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def _times(value, found):
    if isinstance(value, dict):
        for item in value.values():
            _times(item, found)
    elif isinstance(value, list):
        for item in value:
            _times(item, found)
    elif isinstance(value, str) and LOOKS_LIKE_A_TIME.match(value):
        found.append(value)
    return found


def test_every_generic_list_writes_date_times_as_the_contract_does(app, session, api_as):
    session.add(Customer(name="Nimal Perera", phone="+94771234567", created_at=datetime(2026, 11, 21, 8, 15, 0, 123456)))
    session.add(Charger(cid="JT-1", name="Times", type="L2", last_seen=datetime(2026, 11, 21, 8, 15, 30, 999999)))
    session.commit()
    api = api_as("admin")
    assert api.get("/api/v1/customers/?q=(page_size:5)").json["result"][0]["created_at"] == "2026-11-21T08:15:00Z"
    assert api.get("/api/v1/chargers/?q=(page_size:5)").json["result"][0]["last_seen"] == "2026-11-21T08:15:30Z"
    wrong = []
    for view in app.appbuilder.baseviews:
        if not isinstance(view, ResourceApi) or not view.resource_name:
            continue
        response = api.get(f"/api/v1/{view.resource_name}/?q=(page_size:5)")
        if response.status_code != 200:
            continue
        wrong += [f"{view.resource_name}: {v}" for v in _times(response.json, []) if not CONTRACT.match(v)]
    assert wrong == []
