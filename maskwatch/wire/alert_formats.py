"""The body a webhook sink posts: maskwatch's own JSON, or the shape a chat or ticket tool takes.

- `maskwatch`: the `maskwatch.alert/1` JSON (maskwatch.wire.alert), as ever;
- `slack`: a Slack incoming-webhook message, `text` (the notification and fallback) and Block Kit
  `blocks` (a section with the facts, a context line with the message id);
- `teams`: a Microsoft Teams Workflows / incoming-webhook message: one Adaptive Card (1.4) in
  `attachments`, a title and a FactSet;
- `template`: the sink's own Jinja2 template, rendered in a sandbox (no attribute of Python's
  internals is reachable) with `message` (the alert/1 object) and a `tojson` filter.

Whatever the format, the headers keep `X-Maskwatch-Id` (receivers deduplicate by it) and the
HMAC signature of the body as sent (workers.alerts.sinks).
"""
from __future__ import annotations

import json
from functools import lru_cache

from maskwatch.errors import MaskwatchError

FORMATS = ("maskwatch", "slack", "teams", "template")
VERDICT_WORDS = {"no_mask": "no mask", "mask_incorrect": "mask worn incorrectly"}


class FormatError(MaskwatchError, ValueError):
    """A template that does not compile or render; the text names the sink's problem, never a secret."""


def body_of(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def summary(m: dict) -> str:
    """One line for a person to read: what happened, where."""
    where = f"{m['camera']['name']} ({m['site']})"
    if m["type"] == "violation":
        return f"Mask violation at {where}: {VERDICT_WORDS.get(m.get('verdict'), m.get('verdict'))}"
    if m["type"] == "digest":
        return f"{m['count']} mask violations at {where} between {m['first']} and {m['last']}"
    if m["type"] == "report":
        return f"Mask compliance at {m['site']}, {m['period']} ({m['name']})"
    return f"Camera {m['kind'].replace('_', ' ')} at {where}: {m['state']}"


def facts(m: dict) -> list[tuple[str, str]]:
    if m["type"] == "violation":
        out = [("Seen", m["first_seen"]), ("Confidence", f"{m['p_no_mask']:.0%}"),
               ("Face", f"{m['face_width']} px"), ("Model", m["model_version"])]
        return out + ([("Review", m["url"])] if m.get("url") else [])
    if m["type"] == "digest":
        return [("Violations", str(m["count"])), ("From", m["first"]), ("To", m["last"])]
    if m["type"] == "report":
        return [(c["camera_name"], f"{c['compliance']} of {c['people']} people, watched {c['watched']}")
                for c in m["cameras"]]
    return [("Started", m["started_at"]), ("Ended", m.get("ended_at") or "-"), ("Detail", m.get("detail") or "-")]


def slack(m: dict) -> dict:
    lines = "\n".join(f"*{k}:* {v}" for k, v in facts(m))
    return {"text": summary(m),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary(m)}*\n{lines}"}},
                       {"type": "context", "elements": [{"type": "mrkdwn", "text": f"maskwatch {m['message_id']}"}]}]}


def teams(m: dict) -> dict:
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "TextBlock", "text": summary(m), "weight": "Bolder", "size": "Medium", "wrap": True},
                     {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(m)]}]}
    if m.get("url"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Review", "url": m["url"]}]
    return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                "contentUrl": None, "content": card}]}


@lru_cache(maxsize=64)
def compile_template(source: str):
    """A sandboxed Jinja2 template; FormatError when it does not compile."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["tojson"] = lambda v: json.dumps(v)
    try:
        return env.from_string(source)
    except jinja2.TemplateError as e:
        raise FormatError(f"template does not compile: {e}") from None


def render(fmt: str, payload: dict, template: str | None = None) -> bytes:
    if fmt == "maskwatch":
        return body_of(payload)
    if fmt == "slack":
        return body_of(slack(payload))
    if fmt == "teams":
        return body_of(teams(payload))
    if fmt == "template":
        import jinja2

        try:
            return compile_template(template or "").render(message=payload).encode()
        except (jinja2.TemplateError, jinja2.sandbox.SecurityError) as e:
            raise FormatError(f"template failed on a {payload.get('type')} message: {type(e).__name__}: {e}"
                              ) from None
    raise FormatError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
