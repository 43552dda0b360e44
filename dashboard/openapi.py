"""The OpenAPI 3.1 document of /api/*, served at /api/openapi.json and rendered in the docs.

Written once here and checked against the code: its enums and the camera status's fields come
from the code's own types (ReviewStatus, Verdict, the sort columns, incident kinds, the status
dataclasses), a test checks that every /api rule is in it and nothing else, and the contract tests
(Schemathesis, against the real gunicorn) validate every response against it, as every role.
"""
from __future__ import annotations

import dataclasses
import typing

from maskwatch import __version__
from maskwatch.alerts_config import INCIDENT_KINDS
from maskwatch.dashboard.status import CameraStatus
from maskwatch.storage.queries import SORT_COLUMNS
from maskwatch.storage.tables import ReviewLabel, ReviewStatus, Verdict

MAX_LIMIT = 500
STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
TIME = {"type": ["string", "null"], "format": "date-time"}


def _null(schema: dict) -> dict:
    return {**schema, "type": [schema["type"], "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _q(name: str, schema: dict, what: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": what}


SORTS = sorted(SORT_COLUMNS) + sorted(f"-{c}" for c in SORT_COLUMNS)
QUERY_TIME = {"type": "string", "maxLength": 40, "pattern": "^[0-9T:+.Z -]*$",
              "description": "ISO 8601; without an offset, the site's zone"}
CAMERA = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
FILTERS = [
    _q("camera", CAMERA, "one camera's violations"),
    _q("from", QUERY_TIME, "first seen at or after"), _q("to", QUERY_TIME, "first seen before"),
    _q("status", {"type": "string", "enum": [s.value for s in ReviewStatus]}, "review status"),
    _q("verdict", {"type": "string", "enum": [v.value for v in Verdict]}, "which violation"),
    _q("min_conf", {"type": "number", "minimum": 0, "maximum": 1}, "p(no mask) at least"),
    _q("sort", {"type": "string", "enum": SORTS}, "a column, descending with a leading -; default -first_seen"),
]


def _py(t) -> dict:
    """JSON Schema of a dataclass field's type (the status types: str, int, float, bool, optional)."""
    args = typing.get_args(t)
    if type(None) in args:
        return _null(_py(next(a for a in args if a is not type(None))))
    return {str: STR, int: INT, float: NUM, bool: BOOL}.get(t, {"type": "object"})


def _dataclass(cls) -> dict:
    hints = typing.get_type_hints(cls)
    return {"type": "object", "required": [f.name for f in dataclasses.fields(cls)],
            "properties": {f.name: _py(hints[f.name]) for f in dataclasses.fields(cls)}}


def schemas() -> dict:
    violation = {
        "type": "object", "additionalProperties": False,
        "required": ["id", "camera_id", "camera_name", "first_seen", "last_seen", "p_no_mask", "verdict", "box",
                     "review_status", "url", "crop_url", "frame_url"],
        "properties": {
            "id": STR, "camera_id": STR, "camera_name": STR, "track_id": _null(INT), "first_seen": TIME,
            "last_seen": TIME, "evidence_at": TIME, "p_no_mask": NUM,
            "verdict": {"type": "string", "enum": [v.value for v in Verdict]},
            "face_score": _null(NUM), "face_width": _null(INT),
            "box": {"type": "array", "items": NUM, "minItems": 4, "maxItems": 4},
            "frame_width": _null(INT), "frame_height": _null(INT), "sightings": _null(INT), "model_version": _null(STR),
            "review_status": {"type": "string", "enum": [s.value for s in ReviewStatus]},
            "review_label": {"type": ["string", "null"], "enum": [lab.value for lab in ReviewLabel] + [None]},
            "review_note": _null(STR), "reviewed_by": _null(STR), "reviewed_at": TIME,
            "url": STR, "crop_url": STR, "frame_url": STR,
            "clip_url": _null(STR)}}
    return {
        "Error": {"type": "object", "required": ["error", "status"], "additionalProperties": False,
                  "properties": {"error": STR, "status": INT}},
        "Violation": violation,
        "Page": {"type": "object", "required": ["items", "next", "next_url"], "additionalProperties": False,
                 "properties": {"items": {"type": "array", "items": _ref("Violation")}, "next": _null(STR),
                                "next_url": _null(STR)}},
        "NewViolations": {"type": "object", "required": ["count", "latest", "items"],
                          "properties": {"count": INT, "latest": _null(STR), "items": {"type": "array"}}},
        "Review": {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": [s.value for s in ReviewStatus]}, "note": _null(STR)}},
        "Stats": {"type": "object", "required": ["from", "to", "timezone", "bucket", "buckets", "cameras"],
                  "properties": {"from": STR, "to": STR, "timezone": STR, "bucket": STR,
                                 "buckets": {"type": "array", "items": STR},
                                 "cameras": {"type": "array", "items": {"type": "object", "required": [
                                     "camera_id", "violations", "people", "not_judged", "compliance"]}}}},
        "CameraStatus": _dataclass(CameraStatus),
        "Pipeline": {"type": "object", "required": ["available", "cameras"],
                     "properties": {"available": BOOL, "cameras": {"type": "array", "items": _ref("CameraStatus")}}},
        "Sinks": {"type": "object", "required": ["sinks"], "properties": {"sinks": {"type": "array"}}},
        "Incidents": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
            "type": "object", "required": ["id", "camera_id", "kind", "started_at", "ended_at"],
            "properties": {"kind": {"type": "string", "enum": list(INCIDENT_KINDS)}, "started_at": STR,
                           "ended_at": TIME}}}}},
    }


def _answers(ok: dict | None, *codes: int) -> dict:
    words = {200: "OK", 400: "a bad parameter, named", 401: "no login or API token (or a bad one)",
             403: "below the role (or token scope) it needs", 404: "no such violation", 429: "too many bad tokens"}
    out = {"200": {"description": "OK", "content": {"application/json": {"schema": ok}}}} if ok else {}
    for code in (401, 429, *codes):
        out[str(code)] = {"description": words[code], "content": {"application/json": {"schema": _ref("Error")}}}
    return out


def _get(summary: str, ok: str, params: list, *codes: int) -> dict:
    return {"get": {"summary": summary, "parameters": params, "responses": _answers(_ref(ok), *codes)}}


VID = {"name": "vid", "in": "path", "required": True,
       "schema": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"}}


def document() -> dict:
    paths = {
        "/api/violations": _get("violations, newest first (or by `sort`), a keyset page", "Page", [
            *FILTERS, _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size"),
            _q("cursor", {"type": "string", "maxLength": 200, "pattern": "^[A-Za-z0-9_=-]*$"},
               "the `next` of the page before")], 400),
        "/api/violations/new": _get("rows written since a time (the list's banner)", "NewViolations",
                                    [*FILTERS, _q("since", QUERY_TIME, "created after")], 400),
        "/api/violations/{vid}": _get("one violation", "Violation", [VID], 404),
        "/api/violations/{vid}/review": {"post": {
            "summary": "review a violation (operator, or a review token)", "parameters": [VID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Review")}}},
            "responses": _answers(_ref("Violation"), 400, 403, 404)}},
        "/api/stats": _get("violations per bucket and compliance per camera", "Stats", [
            _q("from", QUERY_TIME, "start"), _q("to", QUERY_TIME, "end"),
            _q("bucket", {"type": "string", "enum": ["hour", "day", "week"]}, "chart bucket")], 400),
        "/api/cameras": _get("cameras' and services' live status", "Pipeline", []),
        "/api/alerts": _get("alert sinks: waiting, failing, delivered", "Sinks", []),
        "/api/incidents": _get("camera-health incidents, newest first", "Incidents", [
            _q("camera", CAMERA, "one camera"), _q("kind", {"type": "string", "enum": list(INCIDENT_KINDS)}, "kind")],
            400),
        "/api/openapi.json": {"get": {"summary": "this document", "security": [],
                                      "responses": {"200": {"description": "OK", "content": {
                                          "application/json": {"schema": {"type": "object"}}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "maskwatch", "version": __version__,
                 "description": "The dashboard's JSON API. Errors are {error, status}; times are UTC with an "
                                "offset. Log in (a session cookie, and X-CSRFToken on POST) or send an API token."},
        "servers": [{"url": "/"}],
        "security": [{"token": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "an API token (maskwatch tokens add)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "maskwatch_session"}},
            "schemas": schemas()},
        "paths": paths,
    }


def markdown() -> str:
    """The operations as a table, for docs/api.md."""
    doc = document()
    rows = ["| method | path | what | parameters | answers |", "|---|---|---|---|---|"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = ", ".join(f"`{p['name']}`" for p in op.get("parameters", [])) or "-"
            if "requestBody" in op:
                params += " (JSON body: `Review`)"
            rows.append(f"| {method.upper()} | `{path}` | {op['summary']} | {params} | {', '.join(op['responses'])} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m maskwatch.dashboard.openapi DOCS_DIR: writes openapi.json and api-table.md
    import json
    import sys
    from pathlib import Path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    (out / "openapi.json").write_text(json.dumps(document(), indent=1) + "\n")
    (out / "api-table.md").write_text(markdown())
