"""Events shards: each events process owns a fixed subset of cameras, so tracking stays per camera
while a site runs as many events processes as it needs.

A camera's shard is a hash of its id modulo `events.shards`: deterministic across processes and
restarts, independent of the camera list's order. Workers publish each camera's detections to its
shard's stream; `maskwatch events --shard K/N` reads only stream K, and refuses an entry of a
camera that is not its own (a worker with another N).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from maskwatch.config import ConfigError


def shard_of(camera: str, shards: int) -> int:
    return int.from_bytes(hashlib.sha1(camera.encode()).digest()[:4], "big") % shards


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str, configured: int) -> Shard:
        """`K/N` as given to `maskwatch events --shard`, or `K` alone (N: the config's; a
        StatefulSet passes its pod's ordinal); N must be the config's events.shards, which the
        workers route by."""
        try:
            k, n = (int(v) for v in text.split("/")) if "/" in text else (int(text), configured)
        except ValueError:
            raise ConfigError(f"--shard {text!r}: expected K/N or K, for example 0/2") from None
        if not 0 <= k < n:
            raise ConfigError(f"--shard {text!r}: K must be in 0..{n - 1}")
        if n != configured:
            raise ConfigError(f"--shard {text!r}: the config has events.shards = {configured}, and the workers "
                              f"route detections by it; set events.shards to {n} everywhere")
        return cls(k, n)

    def owns(self, camera: str) -> bool:
        return shard_of(camera, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
