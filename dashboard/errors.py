"""Error responses: JSON under /api/, an HTML page elsewhere; a bad parameter is a 400, never a 500."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from maskwatch.storage.queries import BadQuery

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str):
    if wants_json():
        return jsonify(error=message, status=status), status
    return render_template("error.html", status=status, message=message), status


def register_errors(app: Flask) -> None:
    @app.errorhandler(BadQuery)
    def _bad_query(e: BadQuery):
        return error_response(400, str(e))

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError):
        log.info("csrf: %s %s refused: %s", request.method, request.path, e.description)
        return error_response(400, "The form expired or was not sent by this site; reload the page and retry.")

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        return error_response(e.code or 500, e.description or e.name)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        if isinstance(e, HTTPException):
            return _http(e)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, InternalServerError.description)
