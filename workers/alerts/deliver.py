"""Delivers the outbox: at least once, in order per sink, with capped exponential backoff.

A round takes the due messages, sends each sink's in id order and stops at a sink's first failure
(its later messages wait with it, so a receiver that comes back gets them in order); then it
records, in one transaction, what was delivered and what failed. A crash between a send and that
commit sends the message again: receivers deduplicate by its message_id. A sink with
digest_minutes gathers its violations per camera into one digest message, sent once the oldest
has waited that long.
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from maskwatch.backoff import backoff_delay
from maskwatch.storage import outbox
from maskwatch.storage.queries import as_utc
from maskwatch.storage.tables import OutboxMessage
from maskwatch.wire import alert
from maskwatch.workers.alerts.sinks import SinkError

log = logging.getLogger(__name__)
ROUND = 200


class Deliverer:
    def __init__(self, sessions: sessionmaker[Session], sinks: list, senders: dict, site: str, retry_max_s: float,
                 now: Callable[[], float] = time.time):
        self.sessions, self.sinks, self.senders, self.site = sessions, {s.name: s for s in sinks}, senders, site
        self.retry_max_s, self.now = retry_max_s, now
        self.rng = random.Random()
        self.delivered = defaultdict(int)   # per sink, since start: /metrics reads the table instead
        self.failures = defaultdict(int)

    def run_once(self) -> int:
        """One round; how many messages were delivered."""
        now = self.now()
        with self.sessions() as s:
            due = [m for m in outbox.due(s, now, ROUND) if m.sink in self.sinks]
        ok: list[int] = []
        bad: list[tuple[list[int], str, int]] = []
        by_sink: dict[str, list[OutboxMessage]] = defaultdict(list)
        for m in due:
            by_sink[m.sink].append(m)
        for name, msgs in by_sink.items():
            self._sink_round(name, msgs, now, ok, bad)
        with self.sessions.begin() as s:
            outbox.delivered(s, ok)
            for ids, error, attempts in bad:
                outbox.failed(s, ids, error, now + self._backoff(attempts))
        return len(ok)

    def _backoff(self, attempts: int) -> float:
        return backoff_delay(attempts, 2.0, self.retry_max_s, self.rng)

    def _sink_round(self, name: str, msgs: list[OutboxMessage], now: float, ok: list, bad: list) -> None:
        sink, sender = self.sinks[name], self.senders[name]
        for unit in self._units(sink, msgs, now):
            ids, payload = unit
            try:
                sender.send(payload)
            except SinkError as e:
                self.failures[name] += 1
                rest = [m.id for m in msgs if m.id not in ok and m.id >= min(ids)]
                attempts = max(m.attempts for m in msgs if m.id in ids)
                if attempts == 0:  # once per outage in the log; the dashboard shows every state
                    log.warning("alerts %s: %s not delivered (%s), retrying", name, payload["message_id"], e)
                bad.append((rest, str(e), attempts))
                return
            ok.extend(ids)
            self.delivered[name] += len(ids)

    def _units(self, sink, msgs: list[OutboxMessage], now: float):
        """(outbox ids, payload) to send, in order: each message, or per camera one digest."""
        if not sink.digest_minutes:
            yield from (([m.id], m.payload) for m in msgs)
            return
        held = dt.timedelta(minutes=sink.digest_minutes)
        cameras: dict[str, list[OutboxMessage]] = defaultdict(list)
        for m in msgs:
            if m.kind != "violation":
                yield [m.id], m.payload  # incidents are never held back
            else:
                cameras[m.camera_id].append(m)
        for cam, group in cameras.items():
            oldest = min(as_utc(m.created_at) for m in group)
            if dt.datetime.fromtimestamp(now, dt.UTC) - oldest >= held:
                first = group[0].payload
                yield [m.id for m in group], alert.digest(site=self.site, camera_id=cam,
                                                          camera_name=first["camera"]["name"],
                                                          violations=[m.payload for m in group])

    def close(self) -> None:
        for sender in self.senders.values():
            sender.close()
