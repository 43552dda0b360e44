"""Keep credentials out of logs, status and pages: camera URLs carry passwords."""
from __future__ import annotations

import re

# greedy to the last '@' before white space: a password may itself hold '/', '?', '#' or '@'
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>\S*@)")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:password|passwd|pwd|pass|token|key|secret|auth)=)[^&#\s]*")


def redact_url(url: str) -> str:
    """The URL with user:password replaced by *** and secret query values hidden."""
    return redact_text(url.strip())


def redact_db_url(url: str) -> str:
    """A SQLAlchemy URL with its password hidden (keeps sqlite:////abs/path intact)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return redact_text(url)


def redact_text(text: str) -> str:
    """Any URL credentials inside free text (an OpenCV or FFmpeg error message, say)."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\g<scheme>***@", text))
