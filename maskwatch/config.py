"""The one configuration model: a strict pydantic tree loaded from YAML, validated once at start.

Every field has a default, bounds and a description; unknown keys are errors. String values may
hold `${VAR}` or `${VAR:-default}` placeholders, filled from the environment after parsing (so a
secret can never change the YAML's structure). Errors name the field path and, for cameras, the id.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from maskwatch.redact import redact_url

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
CAMERA_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and every bad field."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)


class DetectorConfig(Strict):
    model: Path | None = Field(None, description="YuNet ONNX file; default: the shipped yunet_n")
    score_threshold: float = Field(0.5, ge=0.05, le=0.99, description="minimum face confidence")
    nms_threshold: float = Field(0.3, ge=0.05, le=0.95, description="IoU above which boxes merge")
    upscale: float = Field(2.0, ge=0.25, le=4.0, description="resize factor before detection (small faces)")
    max_side: int = Field(1280, ge=160, le=8192, description="cap on the resized frame's longest side")
    tiles: tuple[int, int] = Field((1, 1), description="tile grid (columns, rows) over the resized frame")
    tile_overlap: float = Field(0.15, ge=0.0, le=0.5, description="overlap between tiles, share of a tile")
    min_face_px: float = Field(0.0, ge=0.0, le=512, description="drop faces narrower than this")

    @field_validator("tiles")
    @classmethod
    def _tiles(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (1 <= v[0] <= 8 and 1 <= v[1] <= 8):
            raise ValueError("each of (columns, rows) must be 1..8")
        return v


class ClassifierConfig(Strict):
    model_dir: Path | None = Field(None, description="folder with metadata.json; default: the shipped model")
    backend: Literal["auto", "tflite", "keras"] = Field(
        "auto", description="auto: Keras on a GPU when TensorFlow sees one, else TFLite")
    threshold: float | None = Field(None, gt=0.0, lt=1.0, description="p(no_mask) cut; default: the model's")
    batch_size: int = Field(32, ge=1, le=256, description="crops per inference call")
    threads: int | None = Field(None, ge=1, le=64, description="CPU threads for TFLite")


class Config(Strict):
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)


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


def parse_config(raw: Any, source: str = "<config>", env: dict[str, str] | None = None) -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(raw).__name__}")
    filled = expand_env(raw, dict(os.environ) if env is None else env)
    try:
        return Config.model_validate(filled)
    except ValidationError as e:
        lines = [_describe(err, filled) for err in e.errors(include_url=False)]
        raise ConfigError(f"{source}: {len(lines)} problem(s)\n  " + "\n  ".join(lines)) from None


def load_config(path: Path | str | None, env: dict[str, str] | None = None) -> Config:
    """The validated config of a YAML file; None gives the embedded defaults."""
    if path is None:
        return parse_config({}, "<defaults>", env)
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror or e}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{at}: {getattr(e, 'problem', None) or e}") from None
    return parse_config(raw, str(path), env)
