"""The one configuration model: a strict pydantic tree loaded from YAML, validated once at start.

Every field has a default, bounds and a description; unknown keys are errors. String values may
hold `${VAR}` or `${VAR:-default}` placeholders, filled from the environment after parsing (so a
secret can never change the YAML's structure). Errors name the field path and, for cameras, the id.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from maskwatch.alerts_config import AlertsConfig
from maskwatch.clip_config import ClipConfig
from maskwatch.dashboard_config import DashboardConfig
from maskwatch.errors import MaskwatchError
from maskwatch.events_config import IDENTITY_THRESHOLDS, EventsConfig
from maskwatch.models_config import ClassifierConfig, DetectorConfig
from maskwatch.motion_config import MotionConfig
from maskwatch.policy import CameraPolicy, Window
from maskwatch.redact import redact_url
from maskwatch.reports_config import ReportsConfig
from maskwatch.strict import Strict

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# the placeholders of deploy/.env.example and deploy/k8s/secret.yaml: never a site's real secret
_EXAMPLE_SECRET = re.compile(r"^change-me", re.IGNORECASE)


def refuse_example_secret(name: str, value: str, where: str = "") -> None:
    """A ConfigError when `value` is still an example placeholder (`change-me-...`)."""
    if _EXAMPLE_SECRET.match(value or ""):
        at = f"{where}: " if where else ""
        raise ConfigError(f"{at}{name} is still the example value from deploy/.env.example "
                          "(change-me-...): set a real secret, e.g. `openssl rand -hex 24`")
CAMERA_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class ConfigError(MaskwatchError, ValueError):
    """A config file that cannot be used; the message names the file and every bad field."""


class CameraConfig(Strict):
    id: str = Field(pattern=CAMERA_ID, description="stable id: lowercase letters, digits, - and _")
    name: str = Field("", max_length=120, description="shown on the dashboard; default: the id")
    url: str = Field(min_length=1, description="rtsp://, rtsps://, http(s):// (MJPEG), file path or webcam index")
    fps: float = Field(5.0, gt=0.0, le=60.0, description="frames per second sent to the workers")
    enabled: bool = True
    roi: list[tuple[float, float]] | None = Field(
        None, description="region of interest: polygon of (x, y) in 0..1 of the frame; faces outside are ignored")
    jpeg_quality: int = Field(80, ge=30, le=100)
    policy: CameraPolicy | None = Field(None, description="where (zones) and when (a schedule) a mask is required "
                                                          "here; absent: everywhere, always")
    # measured on real footage (docs/model-studies.md, per camera resolution): detector.max_side 1280
    # shrinks a 1080p frame to 720p size; 1920 keeps its faces at their size for 1.6x the time
    max_side: int | None = Field(None, ge=160, le=8192, description="this camera's detector.max_side (a 1080p "
                                                                   "camera: 1920); absent: detector.max_side")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        if v.isdigit():
            return v
        scheme = v.split("://", 1)[0].lower() if "://" in v else ""
        if scheme and scheme not in ("rtsp", "rtsps", "rtmp", "http", "https", "file"):
            raise ValueError(f"unsupported URL scheme {scheme!r} (rtsp, rtsps, rtmp, http, https, file)")
        if scheme and not v.split("://", 1)[1].strip("/"):
            raise ValueError("URL has no host or path")
        if scheme in ("rtsp", "rtsps", "rtmp", "http", "https") and not urlsplit(v).hostname:
            raise ValueError(f"a {scheme}:// URL needs a host")
        return v

    @field_validator("roi")
    @classmethod
    def _roi(cls, v):
        if v is None:
            return v
        if len(v) < 3:
            raise ValueError("a region of interest needs at least 3 points")
        if any(not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0) for x, y in v):
            raise ValueError("region of interest points must lie in 0..1 (fractions of the frame)")
        return v

    @property
    def label(self) -> str:
        return self.name or self.id


class IngestConfig(Strict):
    open_timeout_s: float = Field(5.0, gt=0, le=120, description="give up opening a camera after this")
    read_timeout_s: float = Field(5.0, gt=0, le=120, description="a read that blocks longer is a failure")
    backoff_initial_s: float = Field(1.0, gt=0, le=60)
    backoff_max_s: float = Field(30.0, gt=0, le=3600)
    # between two opens, a camera whose server is down is probed (a TCP connect) this often, and
    # reopened the moment its server accepts again: back within seconds of a reboot (0: off)
    probe_interval_s: float = Field(1.0, ge=0, le=60)
    max_width: int = Field(1920, ge=160, le=7680, description="frames wider than this are downscaled")
    status_interval_s: float = Field(1.0, gt=0, le=60)
    loop_files: bool = Field(True, description="restart file sources at their end (demo clips)")
    motion: MotionConfig = Field(default_factory=MotionConfig)
    camera_motion: Literal["auto", "always", "off"] = Field(
        "auto", description="estimate how each camera moves (hand-held, PTZ, swaying), so that a panning "
                            "camera does not split people into several violations; auto: a still camera is "
                            "looked at every 2 s only")


class RedisConfig(Strict):
    url: str | None = Field(None, description="redis://host:port/db; none: in-process bus (maskwatch run only)")
    frames_url: str | None = Field(
        None, description="redis://host:port/db for the frame streams only: an edge host's own Redis beside its "
                          "ingest and workers, so frames never cross the site network (none: redis.url)")
    prefix: str = Field("mw", pattern=r"^[A-Za-z0-9:_-]{1,40}$", description="key prefix, for sharing a server")
    frames_maxlen: int = Field(10, ge=1, le=10_000, description="frames kept per camera stream")
    # settled detections are deleted at once; this caps what piles up while events cannot keep up
    # (a database outage): 8,000 entries of about 63 KB fit the 768 MB maxmemory of deploy/
    detections_maxlen: int = Field(
        8_000, ge=100, le=10_000_000,
        description="detections kept while events is down (about 3 min of 8 cameras at 5 fps, 0.5 GB); "
                    "older ones are trimmed, and a warning counts any that were still pending")

    @field_validator("frames_url", mode="before")
    @classmethod
    def _blank_is_none(cls, v):
        return None if isinstance(v, str) and not v.strip() else v  # `${FRAMES_REDIS_URL:-}` left unset


class DatabaseConfig(Strict):
    url: str = Field("sqlite:///maskwatch.db", description="SQLAlchemy URL: sqlite:///FILE or postgresql+psycopg://...")
    echo: bool = False


class SnapshotConfig(Strict):
    dir: Path = Field(Path("snapshots"), description="violation images (crop + annotated frame)")
    jpeg_quality: int = Field(90, ge=30, le=100)
    blur_faces: bool = Field(False, description="blur other faces in stored full frames and clips (privacy)")
    clip: ClipConfig = Field(default_factory=ClipConfig)


class WorkerConfig(Strict):
    # on a CPU a frame waits for its whole batch: 4 frames keep 8 x 5 fps of 720p under 500 ms p95
    # (docs/measurements.md); a GPU worker gains from 8-32
    batch_size: int = Field(4, ge=1, le=128, description="frames per batch, across cameras")
    max_wait_ms: int = Field(20, ge=0, le=5000, description="wait this long to fill a batch")
    max_frame_age_s: float = Field(2.0, gt=0, le=600, description="older frames are skipped (counted)")
    claim_idle_s: float = Field(10.0, gt=0, le=3600, description="take over frames a dead worker left pending")
    crop_jpeg_quality: int = Field(90, ge=30, le=100)
    threads: int | None = Field(None, ge=1, le=64,
                                description="CPU threads for detection and classification (default: all cores)")
    live_interval_s: float = Field(0.5, ge=0, le=60, description="how often the live view frame is refreshed, "
                                                                  "while someone watches it")
    # measured (docs/sizing.md): a candidate's frame is the largest thing a detections entry carries;
    # the first frame of each new candidate always goes, so this only bounds the repeats
    evidence_interval_s: float = Field(
        5.0, ge=0, le=60, description="send a camera's full frame with its detections at most this often while "
                                      "the same faces look like violations (the first frame of someone new always "
                                      "goes): the snapshot's evidence; 0: with every candidate frame")
    # measured (docs/sizing.md): with frames on an edge Redis, the evidence frames were the largest
    # part of what still crossed to the site's Redis; asked for, one frame goes per violation
    evidence_frames: Literal["auto", "inline", "on_request"] = Field(
        "auto", description="how a violation's full frame reaches events: inline (the worker sends it with the "
                            "detections, paced by evidence_interval_s) or on_request (ingest keeps it, events asks "
                            "for the one frame a committed violation needs); auto: on_request when redis.frames_url "
                            "names another Redis than redis.url (frames stay on the edge), else inline")
    # what tells people apart (maskwatch.models.appearance): on real footage clothing separates
    # people far better than the face alone, and joined with it finds more people with half the
    # duplicates, the rendered person clips whole (docs/real-footage.md: "Who is who, chosen out of fold")
    appearance: Literal["face", "face+clothing"] = Field(
        "face+clothing", description="the descriptor the tracker and identity compare: the face embedding, "
                                     "or it joined with the colours of the torso below the face")


class RetentionConfig(Strict):
    days: float = Field(30.0, gt=0, le=3650, description="violations and their files older than this are deleted")
    confirmed_days: float | None = Field(
        365.0, gt=0, le=3650, description="violations an operator confirmed are kept this long (none: retention.days), "
                                          "and deleted for space only once no other is left")
    max_gb: float | None = Field(None, gt=0, description="the snapshot folder's most: beyond it the oldest violations "
                                                          "and their files are deleted, whatever their age")
    min_free_gb: float = Field(1.0, ge=0, description="the least free space left on the snapshot folder's disk: "
                                                      "below it the oldest violations go too, and an error is logged "
                                                      "when nothing of ours is left to delete")
    warn_free_gb: float = Field(5.0, ge=0, description="below this much free space on the snapshot disk a \"disk\" "
                                                        "incident opens (alerts), before retention.min_free_gb is "
                                                        "reached; 0: never")
    prune_interval_s: float = Field(600.0, ge=60, le=86_400)

    @model_validator(mode="after")
    def _confirmed_longest(self):
        if self.confirmed_days is not None and self.confirmed_days < self.days:
            raise ValueError(f"confirmed_days ({self.confirmed_days:g}) is shorter than days ({self.days:g}): "
                             "confirmed violations are kept longest")
        return self


class Config(Strict):
    site: str = Field("maskwatch", max_length=120, description="site name shown on the dashboard")
    timezone: str = Field("UTC", max_length=64, description="the site's IANA time zone (Europe/Paris): times "
                          "on the dashboard, its date filters and the stats' hour/day/week buckets")
    cameras: list[CameraConfig] = Field(default_factory=list)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    redis: RedisConfig = Field(default_factory=RedisConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    snapshots: SnapshotConfig = Field(default_factory=SnapshotConfig)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    schedules: dict[str, list[Window]] = Field(default_factory=dict, description="named times a mask is required "
                                               "(the site's time zone), used by cameras' policy.schedule")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}: an IANA name such as UTC or Europe/Paris") from None
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def evidence_on_request(self) -> bool:
        """Whether ingest keeps the evidence frames and events asks for them (worker.evidence_frames)."""
        if self.worker.evidence_frames != "auto":
            return self.worker.evidence_frames == "on_request"
        return self.redis.frames_url is not None and self.redis.frames_url != self.redis.url

    @model_validator(mode="before")
    @classmethod
    def _descriptor_s_identity_threshold(cls, data):
        """events.identity_threshold, where the site leaves it out, is the one measured for the
        descriptor its workers send: a cosine means another thing for each."""
        if not isinstance(data, dict) or not isinstance(data.get("events") or {}, dict):
            return data
        events, worker = data.get("events") or {}, data.get("worker") or {}
        appearance = worker.get("appearance") if isinstance(worker, dict) else getattr(worker, "appearance", None)
        bar = IDENTITY_THRESHOLDS.get(appearance or WorkerConfig.model_fields["appearance"].default)
        if "identity_threshold" in events or bar is None:  # set by the site, or a descriptor refused later
            return data
        return {**data, "events": {**events, "identity_threshold": bar}}

    @model_validator(mode="after")
    def _policies(self):
        for cam in self.cameras:
            if (problem := unknown_schedule(cam, self.schedules)) is not None:
                raise ValueError(f"camera {cam.id!r}: {problem}")
        ids = {c.id for c in self.cameras}
        for sink in self.alerts.sinks:
            unknown = sorted(set(sink.cameras) - ids)
            if unknown and self.cameras:
                raise ValueError(f"alerts sink {sink.name!r}: unknown cameras {unknown}")
        for report in self.reports.schedule:
            unknown = sorted(set(report.cameras) - ids)
            if unknown and self.cameras:
                raise ValueError(f"reports: {report.name!r}: unknown cameras {unknown}")
        mailed = [r.name for r in self.reports.schedule if r.to]
        if mailed and self.reports.smtp is None:
            raise ValueError(f"reports {mailed} are e-mailed: reports.smtp must say through which server")
        hooked = any("report" in s.kinds for s in self.alerts.sinks)
        nowhere = [r.name for r in self.reports.schedule if not r.to and not hooked]
        if nowhere:
            raise ValueError(f"reports {nowhere} go nowhere: give them `to` addresses, or an alert sink \"report\" "
                             "in its kinds")
        return self

    @model_validator(mode="after")
    def _unique_ids(self):
        # parse_config reports duplicates beside every other problem; this holds for a Config
        # built any other way
        ids = [c.id for c in self.cameras]
        if len(set(ids)) != len(ids):
            raise ValueError("camera ids must be unique")
        return self

    def camera(self, cam_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == cam_id:
                return cam
        raise KeyError(cam_id)

    @property
    def raw_cameras(self) -> list[dict]:
        """The cameras as the file wrote them, ${ENV} placeholders kept: what seeds the cameras table
        (maskwatch.storage.cameras) without a secret ever stored or shown."""
        return [dict(c) for c in self._raw_cameras]

    def with_cameras(self, cameras: list[CameraConfig]) -> Config:
        """This config with another camera list (the site's, published at runtime: maskwatch.camera_set)."""
        out = self.model_copy(update={"cameras": list(cameras)})
        out._raw_cameras = self._raw_cameras
        return out

    _raw_cameras: list = PrivateAttr(default_factory=list)


def parse_camera(raw: Any, env: dict[str, str], schedules: dict | None = None) -> CameraConfig:
    """One camera entry (the dashboard's, or a published one) as a validated CameraConfig: its
    ${ENV} placeholders filled from `env`; ConfigError names the camera and what is wrong."""
    where = f"camera {raw.get('id')!r}" if isinstance(raw, dict) and raw.get("id") else "camera"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: not a mapping")
    try:
        cam = CameraConfig.model_validate(expand_env(raw, env, where))
    except ValidationError as e:
        raise ConfigError(f"{where}: " + "; ".join(_describe(err, {}) for err in e.errors(include_url=False))) \
            from None
    if (problem := unknown_schedule(cam, schedules or {})) is not None:
        raise ConfigError(f"{where}: {problem}")
    return cam


def unknown_schedule(cam: CameraConfig, schedules: dict) -> str | None:
    """What is wrong with a camera's policy.schedule, when it names none of the site's schedules."""
    if cam.policy and cam.policy.schedule is not None and cam.policy.schedule not in schedules:
        return f"policy.schedule {cam.policy.schedule!r} is not in schedules ({', '.join(schedules) or 'none defined'})"
    return None


def expand_env(value: Any, env: dict[str, str], where: str = "") -> Any:
    """Fill ${VAR} placeholders in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def fill(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            refuse_example_secret(name, env[name], where)
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _ENV.sub(fill, value)


def _describe(err: dict, raw: dict) -> str:
    loc = err["loc"]
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    where = path or "(top level)"
    if len(loc) >= 2 and loc[0] == "cameras" and isinstance(loc[1], int):
        cams = raw.get("cameras") or []
        if loc[1] < len(cams) and isinstance(cams[loc[1]], dict) and cams[loc[1]].get("id"):
            where += f" (camera {cams[loc[1]]['id']!r})"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    # a rejected value may carry a password: show it only through the redactor
    shown = err.get("input")
    if isinstance(shown, str) and "://" in shown:
        msg = msg.replace(shown, redact_url(shown))
    return f"{where}: {msg}"


def _duplicate_ids(raw: dict) -> list[str]:
    """Checked on the raw entries, so a duplicate is reported beside every other problem."""
    cams = raw.get("cameras")
    ids = [c.get("id") for c in cams if isinstance(c, dict)] if isinstance(cams, list) else []
    twice = sorted({i for i in ids if isinstance(i, str) and ids.count(i) > 1})
    return [f"cameras: camera id {i!r} is used twice" for i in twice]


def parse_config(raw: Any, source: str = "<config>", env: dict[str, str] | None = None) -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    try:
        filled = expand_env(raw, dict(os.environ) if env is None else env)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    lines = _duplicate_ids(filled)
    try:
        cfg = Config.model_validate(filled)
    except ValidationError as e:
        described = [_describe(err, filled) for err in e.errors(include_url=False)]
        lines = [d for d in described if not (lines and "camera ids must be unique" in d)] + lines
    if lines:
        raise ConfigError(f"{source}: {len(lines)} problem(s)\n  " + "\n  ".join(lines)) from None
    cfg._raw_cameras = [dict(c) for c in raw.get("cameras") or []]
    return cfg


def load_config(path: Path | str | None, env: dict[str, str] | None = None) -> Config:
    """The validated config of a YAML file; None gives the embedded defaults."""
    if path is None:
        return parse_config({}, "<defaults>", env)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{at}: {getattr(e, 'problem', None) or e}") from None
    return parse_config(raw, str(path), env)
