"""One camera's inbox: entries held `reorder_s` and released in capture order to its tracker, and
the time it was watched: the capture-time gaps between its processed frames, per hour, where a gap
up to WATCH_GAP_S is watched time and a longer one (the camera offline, the workers behind) is not."""
from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from maskwatch.wire.detections import DetectionMsg
from maskwatch.wire.pose import Matrix, Pose
from maskwatch.workers.events.changes import hour_of
from maskwatch.workers.tracker import Tracker

_order = itertools.count()  # ties in capture time keep arrival order
WATCH_GAP_S = 10.0          # a camera read at 0.1 fps and more is watched between its frames


@dataclass
class CameraFeed:
    tracker: Tracker
    heap: list = field(default_factory=list)  # (captured_at, order, received, entry id, msg)
    last_rx: float = 0.0                      # monotonic time of the last entry received
    last_capture: float = -math.inf
    watched: Counter = field(default_factory=Counter)  # hour -> seconds watched, not yet stored
    pose: Pose | None = None                  # the camera's pose at the last entry released

    def camera_moved(self, pose: Pose | None) -> Matrix | None:
        """How the camera itself moved since the last entry released (ingest.camera_motion), or None:
        still, not estimated, or not to be related to the pose before (a new epoch)."""
        m = pose.since(self.pose) if pose is not None else None
        self.pose = pose
        return m

    def push(self, entry_id: str, msg: DetectionMsg, now: float) -> None:
        heapq.heappush(self.heap, (msg.captured_at, next(_order), now, entry_id, msg))
        self.last_rx = now

    def due(self, now: float, hold_s: float) -> Iterator[tuple[str, DetectionMsg]]:
        """Entries held at least `hold_s`, oldest capture first (popped as they are yielded)."""
        while self.heap and self.heap[0][2] + hold_s <= now:
            _, _, _, entry_id, msg = heapq.heappop(self.heap)
            gap = msg.captured_at - self.last_capture
            if 0 < gap <= WATCH_GAP_S:
                self.watched[hour_of(msg.captured_at)] += gap
            self.last_capture = max(self.last_capture, msg.captured_at)
            yield entry_id, msg

    def take_watched(self, min_s: float = 1.0) -> dict:
        """Whole seconds watched per hour, to store: of the newest hour once it holds `min_s`, of an
        earlier one (it can grow no more) whatever it holds; the fractions stay for next time."""
        newest = max(self.watched, default=None)
        out = {h: int(s) for h, s in self.watched.items() if s >= 1 and (s >= min_s or h != newest)}
        for h, n in out.items():
            self.watched[h] -= n
            if self.watched[h] <= 0:
                del self.watched[h]
        return out

    def next_due(self, hold_s: float) -> float | None:
        return self.heap[0][2] + hold_s if self.heap else None
