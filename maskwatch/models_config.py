"""`detector` and `classifier`: which networks run, how, and on which device."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from maskwatch.strict import Strict

# training (maskwatch.models.training.dataset.balanced_epoch): each epoch's share of real-scene faces in
# both its halves; the hard cases and the detector's boxes on no face are drawn from it, so the CLI
# checks them against it
SCENE_SHARE = 0.7
# how training views are degraded (models.training.dataset.cctv_view): "recipe", the shipped
# model's degradations drawn in its order (reproducible); "video", those, then half the views as
# a compressed video camera sees a moving face (dataset.video_degrade)
DEGRADES = ("recipe", "video")


class DetectorConfig(Strict):
    model: Path | None = Field(None, description="YuNet ONNX file; default: the shipped yunet_n")
    backend: Literal["auto", "onnxruntime", "opencv"] = Field(
        "auto", description="YuNet runtime: ONNX Runtime (3x faster on CPU) or OpenCV's FaceDetectorYN; "
                            "auto: ONNX Runtime when installed")
    device: Literal["cpu", "cuda", "tensorrt"] = Field(
        "cpu", description="ONNX Runtime's execution provider for detection (cuda, tensorrt: onnxruntime-gpu on "
                           "a GPU host; an error names what this one offers when the asked one is missing)")
    score_threshold: float = Field(0.3, ge=0.05, le=0.99, description="minimum face confidence")
    nms_threshold: float = Field(0.3, ge=0.05, le=0.95, description="IoU above which boxes merge")
    upscale: tuple[Annotated[float, Field(ge=0.25, le=4.0)], ...] = Field(
        (1.0, 2.0, 3.0), max_length=4,
        description="resize factors before detection (small faces): one number, or several, each looked at and "
                    "each face kept at its most confident; each is capped by max_side, and factors the cap makes "
                    "equal run once (a 720p frame under max_side 1280 runs once, at 1x); the shipped model's rule "
                    "was chosen at the default")
    max_side: int = Field(1280, ge=160, le=8192, description="cap on the resized frame's longest side")
    tiles: tuple[int, int] = Field((1, 1), description="tile grid (columns, rows) over the resized frame")
    tile_overlap: float = Field(0.15, ge=0.0, le=0.5, description="overlap between tiles, share of a tile")
    min_face_px: float = Field(0.0, ge=0.0, le=512, description="drop faces narrower than this")
    batch_size: int | None = Field(
        None, ge=1, le=64, description="frames and regions per detector call, letterboxed into canvases "
                                       "(sides in multiples of 128 px); default: 1 on cpu (batching gains "
                                       "nothing there), 16 on cuda and tensorrt")

    @field_validator("upscale", mode="before")
    @classmethod
    def _one_factor(cls, v):
        # `upscale: 2` (one factor) stays valid: it was the only form before several were allowed
        if isinstance(v, int | float) and not isinstance(v, bool):
            return (v,)
        if isinstance(v, list | tuple) and not v:
            raise ValueError("name at least one factor, e.g. 2 or [1, 2, 3]")
        return v

    @field_validator("tiles")
    @classmethod
    def _tiles(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not (1 <= v[0] <= 8 and 1 <= v[1] <= 8):
            raise ValueError("each of (columns, rows) must be 1..8")
        return v


class LargeFacesConfig(Strict):
    model_dir: Path = Field(description="a second model folder (metadata.json) that judges the wide faces")
    from_px: float = Field(48.0, gt=0.0, le=4096.0,
                           description="detection width (px) from which a face is judged by the second model")


class ClassifierConfig(Strict):
    model_dir: Path | None = Field(None, description="folder with metadata.json; default: the shipped model")
    large_faces: LargeFacesConfig | None = Field(
        None, description="a second model for the faces at least from_px wide (the first still judges the rest "
                          "and gives every face's embedding); default: none")
    backend: Literal["auto", "tflite", "keras", "onnxruntime"] = Field(
        "auto", description="auto: Keras on a GPU when TensorFlow sees one, else TFLite; onnxruntime: the "
                            "model's ONNX file on classifier.device (a GPU host without TensorFlow)")
    device: Literal["cpu", "cuda", "tensorrt"] = Field(
        "cpu", description="ONNX Runtime's execution provider for backend onnxruntime")
    threshold: float | None = Field(None, gt=0.0, lt=1.0, description="p(no_mask) cut; default: the model's")
    min_face_score: float | None = Field(
        None, ge=0.0, le=1.0, description="faces below this score are never violations; default: the model's")
    batch_size: int = Field(32, ge=1, le=256, description="crops per inference call")
    threads: int | None = Field(None, ge=1, le=64, description="CPU threads for TFLite and ONNX Runtime")

    @model_validator(mode="after")
    def _device_needs_ort(self) -> ClassifierConfig:
        if self.device != "cpu" and self.backend != "onnxruntime":
            raise ValueError(f"device {self.device} needs backend: onnxruntime (keras picks its GPU itself; "
                             f"tflite runs on the CPU)")
        return self
