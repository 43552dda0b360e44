"""The services' status records: what each writes is what the readers get back, and a missing or
malformed field keeps its default instead of failing the dashboard."""
from __future__ import annotations

import pytest

from maskwatch.status import CameraStatusRecord, EventsStatusRecord, WorkerStatusRecord


def _as_redis(h: dict) -> dict[str, str]:
    """What Redis gives back for a hash: every value a string."""
    return {k: str(v) for k, v in h.items()}


def test_a_worker_record_round_trips_through_a_hash_with_its_cameras():
    rec = WorkerStatusRecord("running", 1700000000.5, "m-1", "tflite", "onnxruntime",
                             counts={"processed": 12, "faces": 30, "batches": 3},
                             stage_ms={"detect": 41.5, "classify": 9.25},
                             per_camera={"gate": {"processed": 7, "dropped": 1, "frame_ts": 1699999999.25},
                                         "yard": {"processed": 5, "still": 2, "regions": 1}})
    h = rec.to_hash()
    assert h["processed:gate"] == 7 and h["detect_ms"] == 41.5 and h["frame_ts:gate"] == 1699999999.25
    assert WorkerStatusRecord.from_hash(_as_redis(h)) == rec


def test_an_events_record_round_trips_through_a_hash():
    rec = EventsStatusRecord(processed=5, violations=1, pending=2, lag_s=0.25, problem="database unavailable",
                             db_ok=0, snapshots_ok=1, shard="0/2", cameras=3, updated_at=10.5)
    assert EventsStatusRecord.from_hash(_as_redis(rec.to_hash())) == rec


@pytest.mark.parametrize("record, h, field, expected", [
    (WorkerStatusRecord, {}, "state", "unknown"),
    (WorkerStatusRecord, {"processed": "many"}, "counts", {"processed": 0}),
    (WorkerStatusRecord, {"detect_ms": "x", "state": "running"}, "stage_ms", {"detect": 0.0}),
    (WorkerStatusRecord, {"processed:": "3", "odd:gate": "4"}, "per_camera", {}),
    (EventsStatusRecord, {"lag_s": "NaN-ish"}, "lag_s", 0.0),
    (EventsStatusRecord, {"processed": "7"}, "processed", 7),
    (CameraStatusRecord, {"fps_read": "bad"}, "fps_read", 0.0),
    (CameraStatusRecord, {}, "state", "unknown"),
])
def test_a_malformed_or_missing_field_keeps_its_default(record, h, field, expected):
    assert getattr(record.from_hash(h), field) == expected
