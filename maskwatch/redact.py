"""Keep credentials out of logs, status and pages: camera URLs and webhook targets carry them.

What a URL may show is its scheme, host, port and path: the user information is replaced by ***,
every query value by *** (vendors name their secrets freely: password, psw, loginpas, access_token,
api_key...) and any fragment by ***. Free text (an FFmpeg error, a delivery failure) gets the same
for every URL inside it.
"""
from __future__ import annotations

import re

# a URL inside text runs to the next white space
_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>\S*)")


def redact_url(url: str) -> str:
    """The URL with user:password, every query value and the fragment replaced by ***."""
    return redact_text(url.strip())


def redact_db_url(url: str) -> str:
    """A SQLAlchemy URL with its password hidden (keeps sqlite:////abs/path intact)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return redact_text(url)


def origin(url: str) -> str:
    """Only the scheme, host and port of a URL: where a webhook sends, without the path that Slack,
    Discord and Teams make the credential of."""
    m = _URL.match(url.strip())
    if not m:
        return "***"
    return m["scheme"] + re.split(r"[/?#]", _redact_rest(m["rest"]).removeprefix("***@"), maxsplit=1)[0]


def redact_text(text: str) -> str:
    """Every URL inside free text, redacted as redact_url does."""
    return _URL.sub(lambda m: m["scheme"] + _redact_rest(m["rest"]), text)


def _redact_rest(rest: str) -> str:
    # user information runs to the last '@': a password may itself hold '/', '?', '#' or '@'
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    rest, hash_, _fragment = rest.partition("#")
    path, question, query = rest.partition("?")
    if question:
        query = "&".join(_hide_value(param) for param in query.split("&"))
    return path + question + query + ("#***" if hash_ else "")


def _hide_value(param: str) -> str:
    name, eq, _value = param.partition("=")
    return f"{name}=***" if eq else ("***" if name else "")
