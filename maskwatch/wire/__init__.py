"""Wire formats between services, one module per message, each with its own schema version.

A message is a flat dict of bytes for a Redis stream entry. Decoding checks the version and every
field and raises WireError naming what was wrong, so one bad entry can be counted and skipped.
"""

from maskwatch.errors import MaskwatchError


class WireError(MaskwatchError, ValueError):
    """An entry that is not a valid message of the expected kind and version."""


def field(fields: dict, name: bytes, kind: str) -> bytes:
    try:
        return fields[name]
    except KeyError:
        raise WireError(f"{kind}: missing field {name.decode()!r}") from None


def check_version(fields: dict, kind: str, version: int) -> None:
    got = field(fields, b"v", kind)
    if got != str(version).encode():
        raise WireError(f"{kind}: schema version {got.decode(errors='replace')!r}, expected {version}")
