"""`snapshots.clip`: a short video of every violation. Part of maskwatch.config's strict schema."""
from __future__ import annotations

from pydantic import Field

from maskwatch.strict import Strict


class ClipConfig(Strict):
    enabled: bool = Field(True, description="keep a clip of the seconds around each violation's decisive sighting")
    before_s: float = Field(4.0, ge=0, le=30, description="seconds before the sighting that passed the vote")
    after_s: float = Field(4.0, ge=0, le=30, description="seconds after it")
    # where the frames wait: ingest keeps each camera's recent JPEGs (the ones it sent to the
    # workers) for before_s + after_s + HOLD_MARGIN_S, at most this many MB, whichever is less
    buffer_mb: float = Field(16.0, gt=0, le=1024, description="memory for a camera's recent frames in ingest, "
                                                              "at most (the oldest go first)")
    crf: int = Field(28, ge=18, le=40, description="H.264 quality: lower is better and larger")
