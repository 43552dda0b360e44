"""Build the detector, classifier and pipeline from the validated config (the CLI is the caller)."""
from __future__ import annotations

import logging
from pathlib import Path

from maskwatch.models import WEIGHTS_DIR
from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.detector import FaceDetector, scales_of
from maskwatch.models.modelinfo import ModelInfo
from maskwatch.models.pipeline import MaskPipeline
from maskwatch.models.widefaces import WideFaces
from maskwatch.models_config import ClassifierConfig, DetectorConfig

DEFAULT_DETECTOR = WEIGHTS_DIR / "yunet_n_640_640.onnx"
DEFAULT_CLASSIFIER = WEIGHTS_DIR / "classifier"
GPU_DETECTOR_BATCH = 16  # frames per call on a GPU when the config does not say

log = logging.getLogger(__name__)
# (model folder, detector passes) already warned of in this process: one process builds several
# pipelines of one model (`run --workers N` one a worker; `evaluate --compare --clips --build` the
# vetting one, the scenes' and the clips'), and one misfit is one line, not one a pipeline
_RULE_MISFITS_SAID: set[tuple[str, tuple[float, ...]]] = set()


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
    clf = build_classifier(classifier)
    warn_if_rule_unfit(detector, classifier, clf.info)
    return MaskPipeline(build_detector(detector, threads), clf,
                        threshold=classifier.threshold, min_face_px=detector.min_face_px,
                        min_face_score=classifier.min_face_score, wide=build_wide(classifier))


def build_wide(cfg: ClassifierConfig) -> WideFaces | None:
    """The second model for the wide faces, on the first one's backend, or None."""
    if cfg.large_faces is None:
        return None
    second = cfg.model_copy(update={"model_dir": cfg.large_faces.model_dir, "large_faces": None})
    return WideFaces(build_classifier(second), cfg.large_faces.from_px)


def warn_if_rule_unfit(detector: DetectorConfig, classifier: ClassifierConfig, info: ModelInfo) -> bool:
    """The model's rule was chosen on the faces of one detector setting: other passes find other
    faces, surer or less sure, and the measured F1 does not carry over. Said at start, once per
    model folder and setting in a process; a site that set its own threshold has chosen."""
    runs = scales_of(detector.upscale)
    if classifier.threshold is not None or runs == info.rule_upscale:
        return False
    if (str(info.dir), runs) in _RULE_MISFITS_SAID:
        return True
    _RULE_MISFITS_SAID.add((str(info.dir), runs))
    log.warning("classifier %s: its rule (threshold %.4g, face score >= %.2f) was chosen with detector.upscale %s, "
                "this config runs %s: violations may be called more or less often than its model card says (set "
                "classifier.threshold, or choose the rule again on this detector's faces: "
                "maskwatch.models.training.recalibrate)",
                info.version, info.threshold, info.min_face_score, list(info.rule_upscale), list(runs))
    return True


def model_version(classifier: ClassifierConfig) -> str:
    """What a violation row and a worker's status name as the model: its version, and the second
    model's for the wide faces where one is set (20261203-1427+20261208-0112>=48px)."""
    version = ModelInfo.load(Path(classifier.model_dir or DEFAULT_CLASSIFIER)).version
    wide = classifier.large_faces
    return version if wide is None else f"{version}+{ModelInfo.load(wide.model_dir).version}>={wide.from_px:g}px"
