"""`ingest.motion`: skip the detection a still scene does not need (Frigate-style motion gating)."""
from __future__ import annotations

from pydantic import Field

from maskwatch.strict import Strict


class MotionConfig(Strict):
    enabled: bool = Field(True, description="detect only where the picture changed (and all of it every "
                                            "full_every_s); off: every frame in full")
    full_every_s: float = Field(2.0, gt=0, le=60, description="a full-frame detection at least this often: it "
                                "re-checks people standing still (keep it below events.track_max_gap_s)")
    threshold: int = Field(12, ge=1, le=128, description="grey-level change (0-255) of a cell that counts as motion")
    pad: float = Field(0.35, ge=0, le=2, description="a changed region grows by this share of its size on each "
                                                      "side (a face sits above a moving body)")
    full_above: float = Field(0.5, gt=0, le=1, description="regions covering more than this share of the frame: "
                                                           "detect the whole frame")
    max_regions: int = Field(6, ge=1, le=32)
