"""One camera's inbox: entries held `reorder_s` and released in capture order to its tracker."""
from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from maskwatch.wire.detections import DetectionMsg
from maskwatch.workers.tracker import Tracker

_order = itertools.count()  # ties in capture time keep arrival order


@dataclass
class CameraFeed:
    tracker: Tracker
    heap: list = field(default_factory=list)  # (captured_at, order, received, entry id, msg)
    last_rx: float = 0.0                      # monotonic time of the last entry received
    last_capture: float = -math.inf

    def push(self, entry_id: str, msg: DetectionMsg, now: float) -> None:
        heapq.heappush(self.heap, (msg.captured_at, next(_order), now, entry_id, msg))
        self.last_rx = now

    def due(self, now: float, hold_s: float) -> Iterator[tuple[str, DetectionMsg]]:
        """Entries held at least `hold_s`, oldest capture first (popped as they are yielded)."""
        while self.heap and self.heap[0][2] + hold_s <= now:
            _, _, _, entry_id, msg = heapq.heappop(self.heap)
            self.last_capture = max(self.last_capture, msg.captured_at)
            yield entry_id, msg

    def next_due(self, hold_s: float) -> float | None:
        return self.heap[0][2] + hold_s if self.heap else None
