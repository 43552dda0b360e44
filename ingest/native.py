"""What OpenCV and FFmpeg print themselves, kept out of the logs and turned into a reason.

Both write straight to file descriptor 2 (`[ WARN:0@0.1] global cap.cpp:212 ...` on every failed
open, `[tcp @ 0x55...] Connection to tcp://... failed: Connection refused`), past Python's
logging. A capture process points its fd 2 at a pipe read by a thread; the last lines are kept,
and FFmpeg's last message becomes the detail of the camera's one-line error. OpenCV's own
logger is set to errors only: its warnings say nothing the error does not.
"""
from __future__ import annotations

import collections
import os
import re
import threading

import cv2

_FFMPEG = re.compile(r"^\[[A-Za-z0-9_]+ @ 0x[0-9a-f]+\] (.+)$")


class NativeLog:
    def __init__(self, keep: int = 20):
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()

    def capture(self) -> NativeLog:
        """Take over fd 2 of this process (call once, in the capture process)."""
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        r, w = os.pipe()
        os.dup2(w, 2)
        os.close(w)
        threading.Thread(target=self._read, args=(r,), name="native-log", daemon=True).start()
        return self

    def _read(self, fd: int) -> None:
        # always drained, so a chatty decoder can never block on a full pipe
        with os.fdopen(fd, "r", errors="replace") as f:
            for line in f:
                if line.strip():
                    with self._lock:
                        self.lines.append(line.strip())

    def reason(self) -> str:
        """FFmpeg's last message since the previous call ('' when it said nothing)."""
        with self._lock:
            found = [m.group(1) for line in self.lines if (m := _FFMPEG.match(line))]
            self.lines.clear()
        return found[-1][:300] if found else ""
