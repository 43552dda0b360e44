"""Fine-tune MobileNetV2 into the mask classifier: p(no_mask) from a face crop.

Data: face-crop folders (with_mask/, without_mask/) plus faces cut from VOC-annotated scenes, both
at the annotators' boxes and at the detector's own boxes. Scenes are split by image (voc.split_of):
train images feed training, val images pick the best epoch and the decision threshold, test images
are never touched here. Two phases: the head on a frozen backbone, then the top of the backbone.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.classifier import CLASSES, METADATA, SCHEMA, MaskClassifier, ModelInfo
from models.dataset import (
    Samples,
    balanced_epoch,
    cctv_view,
    plain_view,
    samples_from_crop_folders,
    samples_from_scenes,
)
from models.detector import FaceDetector
from models.metrics import Tally
from models.pipeline import MaskPipeline
from models.voc import load_scenes, split_of

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    out: Path
    scenes: Path | None = None
    crops: Path | None = None
    imagenet_weights: Path | None = None
    detector_weights: Path | None = None
    input_size: int = 128
    crop_margin: float = 0.15
    batch_size: int = 32
    samples_per_epoch: int = 4000
    epochs_head: int = 3
    epochs_finetune: int = 7
    finetune_from: str = "block_11_expand"
    lr_head: float = 1e-3
    lr_finetune: float = 1e-4
    seed: int = 1
    limit_crops: int | None = None
    progress: bool = True


def build_model(size: int, imagenet_weights: Path | None):
    import keras

    inp = keras.Input((size, size, 3), name="crop_rgb")  # float RGB 0..255
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(inp)
    base = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False,
        weights=str(imagenet_weights) if imagenet_weights else None)
    x = base(x, training=False)  # BatchNorm stays in inference mode while fine-tuning
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="p_no_mask")(x)
    return keras.Model(inp, out, name="mask_classifier"), base


def _batches(samples: Samples, settings: TrainSettings, seed: int):
    import keras

    class Views(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = balanced_epoch(samples, settings.samples_per_epoch, self.rng)

        def __len__(self):
            return len(self.order) // settings.batch_size

        def __getitem__(self, i):
            idx = self.order[i * settings.batch_size:(i + 1) * settings.batch_size]
            x = np.stack([cctv_view(samples.patches[j], samples.face_px[j], settings.input_size,
                                    settings.crop_margin, self.rng) for j in idx]).astype(np.float32)
            return x, samples.labels[idx].astype(np.float32)

        def on_epoch_end(self):
            self.order = balanced_epoch(samples, settings.samples_per_epoch, self.rng)

    return Views()


def _load_data(s: TrainSettings, detector: FaceDetector | None):
    scenes = load_scenes(s.scenes) if s.scenes else []
    train_sc = [x for x in scenes if split_of(x.stem) == "train"]
    val_sc = [x for x in scenes if split_of(x.stem) == "val"]
    parts = [samples_from_scenes(train_sc, detector)]
    if s.crops:
        parts.append(samples_from_crop_folders(s.crops, s.limit_crops))
    train = Samples.concat(parts)
    val = samples_from_scenes(val_sc)
    if not len(train) or len(set(train.labels.tolist())) < 2:
        raise ValueError("training data needs faces of both classes; check --scenes and --crops")
    return train, val, val_sc


def _fit(model, base, train, val_x, val_y, s: TrainSettings):
    import keras

    history: dict[str, list[float]] = {}
    best = {"score": -1.0, "weights": None, "epoch": 0, "seen": 0}

    class KeepBest(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best["seen"] += 1  # epochs over both phases
            score = (logs or {}).get("val_pr_auc", -(logs or {}).get("loss", 0.0))
            if score > best["score"]:
                best.update(score=score, weights=self.model.get_weights(), epoch=best["seen"])

    def phase(epochs, lr, seed):
        if not epochs:
            return
        steps = epochs * max(1, s.samples_per_epoch // s.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.1)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy",
                      metrics=["accuracy", keras.metrics.AUC(curve="PR", name="pr_auc")])
        h = model.fit(_batches(train, s, seed), epochs=epochs, verbose=1 if s.progress else 0,
                      validation_data=(val_x, val_y) if len(val_y) else None, callbacks=[KeepBest()])
        for k, v in h.history.items():
            history.setdefault(k, []).extend(float(x) for x in v)

    base.trainable = False
    phase(s.epochs_head, s.lr_head, s.seed)
    base.trainable = True
    names = [layer.name for layer in base.layers]
    start = names.index(s.finetune_from) if s.finetune_from in names else 0
    for layer in base.layers[:start]:
        layer.trainable = False
    phase(s.epochs_finetune, s.lr_finetune, s.seed + 1)
    if best["weights"] is not None:
        model.set_weights(best["weights"])
    return history, best["epoch"]


def train(s: TrainSettings) -> dict:
    """Train, export, pick the threshold on val scenes, write model + metadata + figures to s.out."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from models import plots
    from models.export import agreement, export_tflite

    keras.utils.set_random_seed(s.seed)
    tf.config.experimental.enable_op_determinism()
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    detector = FaceDetector(s.detector_weights, score_threshold=0.3, upscale=2.0) if s.detector_weights else None
    train_set, val_set, val_scenes = _load_data(s, detector)
    log.info("training on %d samples (%d no_mask), validating on %d", len(train_set),
             int(train_set.labels.sum()), len(val_set))
    val_x = np.stack([plain_view(p, s.input_size, s.crop_margin) for p in val_set.patches]).astype(np.float32) \
        if len(val_set) else np.zeros((0, s.input_size, s.input_size, 3), np.float32)
    val_y = val_set.labels.astype(np.float32)

    model, base = build_model(s.input_size, s.imagenet_weights)
    history, best_epoch = _fit(model, base, train_set, val_x, val_y, s)
    _save_without_optimizer(model, s, out / "mask_classifier.keras")
    export_tflite(model, out / "mask_classifier.tflite")
    check = agreement(model, out / "mask_classifier.tflite",
                      val_x[:256] if len(val_x) else _views(train_set, s, 64))
    meta = _metadata(s, train_set, val_set, history, best_epoch, check, threshold=0.5)
    (out / METADATA).write_text(json.dumps(meta, indent=2))

    if val_scenes and detector is not None:
        tally = _scene_tally(out, detector, val_scenes)
        threshold, min_score = tally.best_rule()
        meta["threshold"], meta["min_face_score"] = round(threshold, 3), round(min_score, 3)
        meta["metrics"]["val_scenes"] = tally.summary(threshold, min_score)
    if len(val_x):
        p_val = np.asarray(model(val_x, training=False)).reshape(-1)
        meta["metrics"]["val_crops_confusion"] = plots.confusion_matrix(
            val_y, p_val, meta["threshold"], out / "confusion_matrix.png",
            f"val faces at annotated boxes, threshold {meta['threshold']}")
    plots.training_curves(history, out / "training_curves.png")
    (out / METADATA).write_text(json.dumps(meta, indent=2))
    ModelInfo.load(out)  # what we wrote must load
    return meta


def _save_without_optimizer(model, s: TrainSettings, path: Path) -> None:
    """The shipped file needs weights only: optimizer slots would triple its size."""
    fresh, _ = build_model(s.input_size, None)
    fresh.set_weights(model.get_weights())
    fresh.save(path)


def _views(samples: Samples, s: TrainSettings, n: int) -> np.ndarray:
    return np.stack([plain_view(p, s.input_size, s.crop_margin) for p in samples.patches[:n]]).astype(np.float32)


def _scene_tally(model_dir: Path, detector: FaceDetector, scenes) -> Tally:
    from models.evaluate import tally_scenes

    pipe = MaskPipeline(detector, MaskClassifier.load(model_dir, backend="tflite"), threshold=0.5)
    return tally_scenes(pipe, scenes, {"all": (0, float("inf"))})["all"]


def _metadata(s, train_set, val_set, history, best_epoch, check, threshold) -> dict:
    counts = {f"{src}/{CLASSES[lab]}": int(((train_set.source == src) & (train_set.labels == lab)).sum())
              for src in ("crops", "scene", "detector") for lab in (0, 1)}
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()
                if k not in ("out", "progress")}
    return {
        "schema": SCHEMA,
        "name": "maskwatch-mobilenetv2",
        "version": dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M"),
        "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "classes": CLASSES,
        "output": "sigmoid p(no_mask); mask worn under the nose or on the chin counts as no_mask",
        "input_size": s.input_size,
        "input": "RGB float32 in 0..255 (the model rescales to -1..1 itself)",
        "crop_margin": s.crop_margin,
        "crop": "square around the face box, side = longest side * (1 + crop_margin), border replicated",
        "threshold": threshold,
        "min_face_score": 0.0,
        "decision": "no_mask when p_no_mask >= threshold and the face score >= min_face_score "
                    "(tiny, doubtful detections are never called violations)",
        "files": {"keras": "mask_classifier.keras", "tflite": "mask_classifier.tflite"},
        "data": {"train_samples": counts, "val_faces": int(len(val_set)),
                 "split": "scenes by image: sha1(stem) % 10: 0-1 test, 2 val, 3-9 train"},
        "training": {"settings": settings, "best_epoch": best_epoch,
                     "history": {k: [round(x, 4) for x in v] for k, v in history.items()}},
        "export_check": check,
        "metrics": {},
    }
