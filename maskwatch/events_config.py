"""The `events` section: tracking, identity, the vote and the legacy webhook. Part of
maskwatch.config's strict schema."""
from __future__ import annotations

from pydantic import Field, model_validator

from maskwatch.strict import Strict

# events.identity_threshold measured for each descriptor the workers may send (worker.appearance):
# face on the person clips (docs/tracking-and-identity.md); face+clothing chosen leaving one real
# video out, with the rendered person clips kept whole (docs/real-footage.md: "Who is who, chosen
# out of fold")
IDENTITY_THRESHOLDS = {"face": 0.88, "face+clothing": 0.84}


class EventsConfig(Strict):
    track_iou: float = Field(0.2, ge=0.01, le=0.95, description="IoU to continue a track")
    track_max_gap_s: float = Field(3.0, gt=0, le=120, description="a track unseen this long ends")
    track_high_score: float = Field(
        0.5, ge=0.0, le=1.0, description="faces at least this confident start tracks and are matched first; "
                                         "less confident ones only continue tracks (ByteTrack's two stages)")
    # both chosen out of fold on the annotated real footage (leave one video out, docs/real-footage.md:
    # "The gates, chosen out of fold"): a turning, moving face on a walking camera is often less than
    # 0.5 alike its own track a frame later; 0.5 and none before
    appearance_gate: float = Field(
        0.4, ge=-1.0, le=1.0, description="a face less alike a track than this (cosine) never continues it")
    overlap_gate: float | None = Field(
        0.3, ge=-1.0, le=1.0, description="the same, for a face that overlaps the track's box or its prediction "
                                           "by IoU 0.5 or more (none: appearance_gate): small faces that turn "
                                           "differ more from frame to frame than their place does")
    # the face descriptor's, measured on the person clips (docs/tracking-and-identity.md): the same
    # person's track prototypes >= 0.97, different people at the same spot (alike backgrounds in
    # their crops) up to 0.84. A site's config that leaves it out gets its descriptor's own
    # (IDENTITY_THRESHOLDS, maskwatch.config)
    identity_threshold: float = Field(
        0.88, ge=0.0, le=1.0, description="cosine similarity at which a violating track is the same person "
                                          "as an earlier violator (no second violation); default: the one "
                                          "measured for worker.appearance (face 0.88, face+clothing 0.84)")
    # measured on the occlusion clips (docs/tracking-and-identity.md): a walker found again past a pillar is 0.76-0.88
    # alike their track before it; the place and time checked instead (workers.identity.on_course)
    on_course_threshold: float = Field(
        0.70, ge=0.0, le=1.0, description="the same, for a track that begins where an earlier violator, "
                                          "lost a few seconds before, would have walked to")
    revisit_s: float = Field(
        600.0, ge=0, le=86_400, description="a violator who leaves and comes back within this long stays one "
                                            "violation; also how long appearance descriptors are kept (memory and "
                                            "Redis only)")
    # measured leaving one real video out and not kept (docs/real-footage.md: "Faces the detector
    # doubts"): it finds a person more and calls doubted masked faces bare in a masked crowd
    confirmed_min_score: float | None = Field(
        None, ge=0.0, le=1.0, description="on a track that has shown a face at the rule's minimum face score, "
                                          "a face the detector is at least this sure of votes like one (the "
                                          "workers classify faces down to it); none: every face needs the rule's")
    vote_n: int = Field(5, ge=1, le=50, description="sightings considered per track")
    vote_k: int = Field(3, ge=1, le=50, description="no_mask sightings among the last n that make a violation")
    # chosen on the scene sets and real footage (docs/real-footage.md: Judge only what can be judged)
    judge_min_px: float = Field(
        10.0, ge=0, le=400, description="a face narrower than this (pixels) is too small to tell: it keeps its "
                                        "track going but never votes; a person never seen larger is counted "
                                        "as not judged, neither compliant nor a violation")
    judge_full_px: float = Field(
        24.0, ge=0, le=400, description="a sighting at least this wide counts fully in the vote; a narrower one "
                                        "counts less, down to vote_k / vote_n at judge_min_px: a face that small "
                                        "needs every sighting of the window to agree")
    # measured on real footage (docs/real-footage.md: Faces that are not people): the group clip's
    # painting wandered 0.056 of its width in 10 s, the five people standing in front of it 0.14-0.35
    # in 5 s (and 0.05-0.19 in their first 1.4 s: a hold must not outlast a brief bare moment)
    still_s: float = Field(
        10.0, ge=0, le=3600, description="a face that has not moved more than still_tol of its width for this "
                                         "long is a picture (poster, screen, painting) and never becomes a "
                                         "violation; a violating face is held until it moves or leaves (then "
                                         "reported); 0: off")
    still_tol: float = Field(0.10, ge=0.0, le=5.0, description="how far (in face widths) a face's centre must "
                                                               "have moved to count as a person's")
    shards: int = Field(1, ge=1, le=64, description="events processes, each owning a fixed subset of cameras "
                                                    "(`maskwatch events --shard K/N`)")
    reorder_s: float = Field(0.5, ge=0, le=10, description="hold results this long to put them in capture order")
    webhook_url: str | None = Field(None, description="POST each violation as JSON here")
    webhook_timeout_s: float = Field(3.0, gt=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data):
        if isinstance(data, dict) and "cooldown_s" in data:
            raise ValueError("cooldown_s was removed: violations are now deduplicated by who the person is, "
                             "not where they stood; use revisit_s (docs/tracking-and-identity.md: Upgrading)")
        return data

    def vote_bar(self, min_face_score: float) -> float:
        """The least detector score of a face that may vote, given the rule's minimum face score:
        lower with confirmed_min_score (on a track seen sure). The workers classify down to it."""
        return min_face_score if self.confirmed_min_score is None else min(self.confirmed_min_score, min_face_score)

    @model_validator(mode="after")
    def _vote(self):
        if self.vote_k > self.vote_n:
            raise ValueError(f"vote_k ({self.vote_k}) cannot exceed vote_n ({self.vote_n})")
        if self.judge_full_px < self.judge_min_px:
            raise ValueError(f"judge_full_px ({self.judge_full_px}) cannot be below judge_min_px ({self.judge_min_px})")
        if self.on_course_threshold > self.identity_threshold:
            raise ValueError(f"on_course_threshold ({self.on_course_threshold}) cannot exceed "
                             f"identity_threshold ({self.identity_threshold}): place and time are evidence too")
        return self
