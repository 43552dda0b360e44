"""The OpenAPI document against the code and the real server: every /api route is in it and
nothing else; property-based contract tests (Schemathesis) send generated requests to gunicorn as
each role (anonymous, a read token, a review token, an admin's session) and check every answer: no
500, a documented status, a JSON body valid against the document."""
from __future__ import annotations

import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import sessionmaker
from support.dashboard import PASSWORD

from maskwatch.dashboard.app import create_app
from maskwatch.dashboard.openapi import document
from maskwatch.storage import tokens
from maskwatch.storage.db import make_engine

SCHEMA = schemathesis.openapi.from_dict(document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30


def test_every_api_route_is_documented_and_nothing_else(tmp_path):
    from support.dashboard import dashboard_config
    from support.databases import sqlite_database

    app = create_app(dashboard_config(sqlite_database(tmp_path), tmp_path / "snaps"))
    routes = {(re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", r.rule), m.lower()) for r in app.url_map.iter_rules()
              if r.rule.startswith("/api/") for m in r.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in document()["paths"].items() for method in ops}
    assert routes == documented


def test_the_docs_hold_the_document_as_served():
    """docs/openapi.json and the docs' table are the code's (python -m maskwatch.dashboard.openapi docs)."""
    import json

    from support.settings import ROOT

    from maskwatch.dashboard.openapi import markdown

    assert json.loads((ROOT / "docs" / "openapi.json").read_text()) == document()
    assert (ROOT / "docs" / "api-table.md").read_text() == markdown()


@pytest.fixture(scope="module")
def roles(api_site):
    """Headers or a session per role: anonymous, a read and a review token, an admin's login."""
    engine = make_engine(api_site.db_url)
    with sessionmaker(engine).begin() as s:
        read = tokens.create(s, "contract-read", "read", "test")[1]
        review = tokens.create(s, "contract-review", "review", "test")[1]
    engine.dispose()
    admin = requests.Session()
    page = admin.get(f"{api_site.base}/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    admin.post(f"{api_site.base}/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf})
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', admin.get(f"{api_site.base}/").text).group(1)
    admin.headers["X-CSRFToken"] = token
    return {"anonymous": {"headers": {}}, "read": {"headers": {"Authorization": f"Bearer {read}"}},
            "review": {"headers": {"Authorization": f"Bearer {review}"}}, "admin": {"session": admin}}


@pytest.fixture(scope="module")
def calls():
    """Counts the generated requests; their number goes to the artifacts (the docs quote it)."""
    from support.browser import artifacts

    made: list[str] = []
    yield made
    (artifacts() / "contract-cases.txt").write_text(
        f"{len(made)} generated requests: " + ", ".join(f"{r} {made.count(r)}" for r in sorted(set(made))) + "\n")


@pytest.mark.parametrize("role", ["anonymous", "read", "review", "admin"])
@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_answer_is_documented(api_site, roles, calls, role, case):
    case.call_and_validate(base_url=api_site.base, checks=CHECKS, timeout=30, **roles[role])
    calls.append(role)
