"""Error responses: JSON under /api/, an HTML page elsewhere; a bad parameter is a 400, never a 500."""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from maskwatch.storage.queries import BadQuery

log = logging.getLogger(__name__)


# what a login over plain HTTP meets when cookies are Secure: say why, and both ways out
INSECURE_MESSAGE = ("This page came over plain HTTP, but this dashboard's cookies are Secure-only, so the "
                    "browser never sends them back and no form can work. Open it with https:// (the "
                    "dashboard serves HTTPS with dashboard.tls), or, on a network without HTTPS, set "
                    "MASKWATCH_SECURE_COOKIES=false and MASKWATCH_TLS=false.")


def insecure_transport() -> bool:
    """A plain-HTTP request to a dashboard whose cookies are Secure (they will not come back)."""
    return bool(current_app.config.get("SESSION_COOKIE_SECURE")) and not request.is_secure


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
        if insecure_transport():
            return error_response(400, INSECURE_MESSAGE)
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
