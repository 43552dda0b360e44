"""Build the detector, classifier and pipeline from the validated config (the CLI is the caller)."""
from __future__ import annotations

from pathlib import Path

from maskwatch.models_config import ClassifierConfig, DetectorConfig
from models import WEIGHTS_DIR
from models.classifier import MaskClassifier
from models.detector import FaceDetector
from models.pipeline import MaskPipeline

DEFAULT_DETECTOR = WEIGHTS_DIR / "yunet_n_640_640.onnx"
DEFAULT_CLASSIFIER = WEIGHTS_DIR / "classifier"
GPU_DETECTOR_BATCH = 16  # frames per call on a GPU when the config does not say


def detector_batch(cfg: DetectorConfig) -> int:
    """Batching gains nothing on CPU cores that a worker already keeps busy; a GPU needs it."""
    return cfg.batch_size or (1 if cfg.device == "cpu" else GPU_DETECTOR_BATCH)


def build_detector(cfg: DetectorConfig, threads: int | None = None) -> FaceDetector:
    return FaceDetector(cfg.model or DEFAULT_DETECTOR, score_threshold=cfg.score_threshold,
                        nms_threshold=cfg.nms_threshold, upscale=cfg.upscale, max_side=cfg.max_side,
                        tiles=cfg.tiles, tile_overlap=cfg.tile_overlap, threads=threads,
                        backend=cfg.backend, device=cfg.device, batch_size=detector_batch(cfg))


def build_classifier(cfg: ClassifierConfig) -> MaskClassifier:
    return MaskClassifier.load(cfg.model_dir or DEFAULT_CLASSIFIER, backend=cfg.backend,
                               threads=cfg.threads, max_batch=cfg.batch_size, device=cfg.device)


def build_pipeline(detector: DetectorConfig, classifier: ClassifierConfig,
                   threads: int | None = None) -> MaskPipeline:
    return MaskPipeline(build_detector(detector, threads), build_classifier(classifier),
                        threshold=classifier.threshold, min_face_px=detector.min_face_px,
                        min_face_score=classifier.min_face_score)


def model_version(classifier: ClassifierConfig) -> str:
    from models.classifier import ModelInfo
    return ModelInfo.load(Path(classifier.model_dir or DEFAULT_CLASSIFIER)).version
