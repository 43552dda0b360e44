"""What a group of clips played as cameras reports beside its violations: the frames each camera's
ingest read and sent and the workers processed (maskwatch.commands.clips.frame_counts), and how
`evaluate --videos` shows them."""
from __future__ import annotations

import pytest

from maskwatch.commands.clips import frame_counts
from maskwatch.commands.videos import processed
from maskwatch.membus import MemoryBus
from maskwatch.status import CameraStatusRecord, WorkerStatusRecord


def test_frames_processed_add_up_over_workers_per_camera():
    bus = MemoryBus("t")
    bus.put_hash(bus.keys.camera_status("a"), CameraStatusRecord("ended", frames_read=750, frames_sent=150).to_hash())
    bus.put_hash(bus.keys.camera_status("b"), CameraStatusRecord("ended", frames_read=90, frames_sent=30).to_hash())
    for name, a, b in (("w1", 80, 30), ("w2", 61, 0)):
        rec = WorkerStatusRecord("stopped", 1.0, "v", "tflite", "onnxruntime", counts={"processed": a + b},
                                 per_camera={"a": {"processed": a, "dropped": 2}, "b": {"processed": b}})
        bus.put_hash(bus.keys.worker_status(name), rec.to_hash())
    got = frame_counts(bus, ["a", "b", "gone"])
    assert got == {"a": {"read": 750, "sent": 150, "processed": 141}, "b": {"read": 90, "sent": 30, "processed": 30},
                   "gone": {"read": 0, "sent": 0, "processed": 0}}


@pytest.mark.parametrize("frames,shown", [
    ({"read": 750, "sent": 150, "processed": 141}, "94% (150)"),
    ({"read": 90, "sent": 30, "processed": 30}, "100% (30)"),
    ({"read": 0, "sent": 0, "processed": 0}, "-"),  # nothing sent: no share to show
    (None, "-"),  # a result from before the count
])
def test_the_table_shows_the_share_of_frames_sent_that_were_processed(frames, shown):
    assert processed(frames) == shown
