"""Turns what the events service commits into outbox rows, in the same transaction: a violation
row and its alerts are written together or not at all."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maskwatch.alerts_config import sinks_of
from maskwatch.config import Config
from maskwatch.storage import outbox
from maskwatch.wire import alert


class AlertWriter:
    def __init__(self, config: Config):
        self.site, self.sinks = config.site, sinks_of(config)
        self.names = {c.id: c.label for c in config.cameras}
        base = (config.alerts.dashboard_url or "").rstrip("/")
        self.link = (lambda vid: f"{base}/violations/{vid}") if base else (lambda vid: None)

    def __bool__(self) -> bool:
        return bool(self.sinks)

    def violation(self, session: Session, *, violation_id: str, camera: str, first_seen: dt.datetime,
                  p_no_mask: float, face_score: float, box, frame_size, model_version: str,
                  verdict: str = "no_mask") -> int:
        """Outbox rows for a violation just inserted; how many sinks want it."""
        payload = alert.violation(site=self.site, violation_id=violation_id, camera_id=camera,
                                  camera_name=self.names.get(camera, camera), first_seen=first_seen,
                                  p_no_mask=p_no_mask, face_score=face_score, box=list(box), frame_size=frame_size,
                                  model_version=model_version, url=self.link(violation_id), verdict=verdict)
        return self._enqueue(session, "violation", camera, payload, p_no_mask, verdict)

    def incident(self, session: Session, *, incident_id: str, camera: str, kind: str, state: str,
                 started_at: dt.datetime, ended_at: dt.datetime | None, detail: str) -> int:
        payload = alert.incident(site=self.site, incident_id=incident_id, camera_id=camera,
                                 camera_name=self.names.get(camera, camera), kind=kind, state=state,
                                 started_at=started_at, ended_at=ended_at, detail=detail)
        return self._enqueue(session, "incident", camera, payload)

    def report(self, session: Session, payload: dict) -> int:
        """Outbox rows for a scheduled report (maskwatch.wire.alert.report), for the sinks that take reports."""
        return self._enqueue(session, "report", "", payload)

    def _enqueue(self, session: Session, kind: str, camera: str, payload: dict, confidence: float | None = None,
                 verdict: str | None = None) -> int:
        """One outbox row per sink that wants this message; how many were added."""
        return sum(outbox.enqueue(session, s.name, payload["message_id"], kind, camera, payload)
                   for s in self.sinks if s.wants(kind, camera, confidence, verdict))
