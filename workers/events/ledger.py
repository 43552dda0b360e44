"""The ack ledger: an entry is acked only once every face in it is settled (workers.tracker)."""
from __future__ import annotations

from collections.abc import Iterable

from maskwatch.workers.tracker import Sighting


class AckLedger:
    def __init__(self) -> None:
        self._open: dict[str, int] = {}  # entry id -> faces in it not settled yet
        self._acks: list[str] = []

    def skip(self, entry_id: str) -> None:
        """An entry with nothing to settle (bad, empty, refused): ack it with the next flush."""
        self._acks.append(entry_id)

    def hold(self, entry_id: str, faces: int) -> None:
        if faces > 0:
            self._open[entry_id] = faces
        else:
            self.skip(entry_id)

    def settle(self, sightings: Iterable[Sighting]) -> None:
        for s in sightings:
            left = self._open.get(s.entry_id, 0) - 1
            if left > 0:
                self._open[s.entry_id] = left
            elif self._open.pop(s.entry_id, None) is not None:
                self._acks.append(s.entry_id)

    def drop(self, entry_id: str) -> None:
        """An entry that could not be processed: ack it, whatever of it was still held."""
        self._open.pop(entry_id, None)
        self.skip(entry_id)

    @property
    def held(self) -> int:
        return len(self._open)

    def take(self) -> list[str]:
        acks, self._acks = self._acks, []
        return acks

    def give_back(self, acks: list[str]) -> None:
        """Acks that could not be written (Redis down): try them again with the next flush."""
        self._acks = acks + self._acks
