"""The project's one error base class (as rq/exceptions.py does it).

A MaskwatchError is something the user or the site can fix (a bad config, a server not
reachable, a bad model folder): the CLI prints it as one line and exits 2. Anything else is a bug
and shows its traceback. The subclasses also stay ValueErrors where they always were, so callers
that caught ValueError keep working.
"""


class MaskwatchError(Exception):
    """Base of every error the project raises on purpose."""


class BusError(MaskwatchError):
    """The message bus failed; the services retry (only maskwatch/bus.py knows it is Redis)."""


class BusUnavailable(BusError):
    """The bus cannot be reached: connection refused, lost or timed out."""


class NoGroup(BusError):
    """A stream's consumer group is gone (Redis restarted without its data, or was reset)."""
