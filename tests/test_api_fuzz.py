"""Schemathesis over the whole `/api/v1/` OpenAPI document, as admin, an ops agent and an OEM user:
no generated request (valid or invalid by the schema) may get a 5xx.

Bounded: a few examples per operation and mode, no deadline, no example database, so the run takes
a few minutes at most on a busy machine. Every failure is collected and reported at once.
"""
from __future__ import annotations

import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import jwt_for

# examples per operation and mode; admin reaches every operation, the others mostly meet a 403
EXAMPLES = {
    "admin": {GenerationMode.POSITIVE: 2, GenerationMode.NEGATIVE: 2},
    "agent": {GenerationMode.POSITIVE: 1, GenerationMode.NEGATIVE: 1},
    "oem_tata": {GenerationMode.POSITIVE: 1, GenerationMode.NEGATIVE: 1},
}
# Operations that would take the caller's own access away in the middle of the run (an admin deleting
# roles or users, replacing a role's members); their input is fuzzed by the security tests instead.
DESTRUCTIVE = r"^/api/v1/security/(users|roles|groups|permissions-resources|resources)/"


def _seed_oem_user(session):
    from app.models.installations import Oem, OemUser
    from app.security import OEM
    from flask import current_app

    user = current_app.appbuilder.sm.find_user(username="oem_tata")
    oem = Oem(name="Tata Motors", code="TATA")
    session.add(oem)
    session.flush()
    session.add(OemUser(user_id=user.id, oem_id=oem.id))
    session.commit()
    assert any(r.name == OEM for r in user.roles)


def _failures_for(schema, base_url: str, token: str, examples_per_mode: dict) -> list[str]:
    http = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() in ("DELETE", "PUT", "PATCH") and re.match(DESTRUCTIVE, operation.path):
            continue
        if operation.path.startswith(("/api/v1/security/roles/{role_id}/", "/api/{version}/", "/api/v1/security/logout")):
            continue  # a role's members and permissions (see above); FAB's document itself; signing the caller out
        if operation.path == "/api/v1/live/stream":
            continue  # an event stream that stays open for minutes (tests/field_app/test_live.py)
        for mode, examples in examples_per_mode.items():
            seen: list[str] = []

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
            )
            def probe(case):
                response = case.call(base_url=base_url, session=http, headers=headers, timeout=60)
                if response.status_code >= 500 and len(seen) < 2:
                    seen.append(
                        f"{operation.method.upper()} {operation.path} ({mode}): {response.status_code} for "
                        f"{case.as_curl_command(headers=None)[:400]}"
                    )

            try:
                probe()
            except Unsatisfiable:  # nothing in the schema to break for this mode (no parameters, no body)
                pass
            except Exception as exc:  # a case schemathesis could not build or send is a finding too
                seen.append(f"{operation.method.upper()} {operation.path} ({mode}): {type(exc).__name__}: {str(exc)[:300]}")
            failures.extend(seen)
    return failures


@pytest.mark.postgres_pass  # once, on the production database
@pytest.mark.timeout(1800)
def test_no_generated_request_gets_a_5xx(live_server, session, client):
    _seed_oem_user(session)
    tokens = {name: jwt_for(client, name) for name in ("admin", "agent", "oem_tata")}
    spec = requests.get(
        f"{live_server.url}/api/v1/_openapi", headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=60
    ).json()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    for name in ("agent", "oem_tata", "admin"):
        failures += [f"[{name}] {f}" for f in _failures_for(schema, live_server.url, tokens[name], EXAMPLES[name])]
    assert not failures, f"{len(failures)} 5xx answers:\n" + "\n".join(failures)
