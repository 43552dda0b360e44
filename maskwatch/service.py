"""What every long-running service shares: signals, a stop event, periodic status."""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading

log = logging.getLogger(__name__)


def install_signal_handlers(stop: threading.Event, name: str) -> None:
    """First SIGTERM/SIGINT: warm stop (finish the current step, ack, close). Second: cold stop."""

    def handler(signum, _frame):
        if stop.is_set():
            log.warning("%s: second %s, stopping now", name, signal.Signals(signum).name)
            raise SystemExit(128 + signum)
        log.info("%s: %s received, finishing current work (send again to stop at once)",
                 name, signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def instance_name(kind: str) -> str:
    """A consumer name unique per process and host, stable for the process's life."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}"


class Every:
    """True once per `seconds` (monotonic clock); for status writes inside service loops."""

    def __init__(self, seconds: float, clock=None):
        import time

        self.seconds = seconds
        self.clock = clock or time.monotonic
        self.last = float("-inf")

    def __call__(self) -> bool:
        now = self.clock()
        if now - self.last >= self.seconds:
            self.last = now
            return True
        return False
