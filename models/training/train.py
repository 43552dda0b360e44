"""Fine-tune MobileNetV2 into the mask classifier: three verdicts (mask, no_mask, mask_incorrect)
from a face crop, softmax.

Data: face-crop folders (with_mask/, without_mask/) plus faces cut from VOC-annotated scenes, both
at the annotators' boxes and at the detector's own boxes. Scenes are split by image (voc.split_of):
test images are never touched here; all the others are cross-validated in K folds (maskwatch.models.training.crossval)
to choose the decision rule, then the shipped model is trained on all of them. Two phases on a fixed
schedule: the head on a frozen backbone, then the backbone from `finetune_from` up.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from maskwatch.models.build import build_detector
from maskwatch.models.calibration import Calibration
from maskwatch.models.detector import FaceDetector
from maskwatch.models.embedding import embedding_meta
from maskwatch.models.evaluation.voc import load_scenes, split_of
from maskwatch.models.modelinfo import CLASSES, METADATA, SCHEMA, ModelError, ModelInfo
from maskwatch.models.training.crossval import cross_validate, rule_detector
from maskwatch.models.training.dataset import (
    Samples,
    balanced_epoch,
    cctv_view,
    plain_view,
    samples_from_crop_folders,
    samples_from_reviews,
    samples_from_scenes,
)
from maskwatch.models.training.oofreport import calibrate, three_class
from maskwatch.models_config import DetectorConfig

log = logging.getLogger(__name__)

OOF_FILE = "out_of_fold.npz"  # every out-of-fold detection and annotated face (CrossVal.save)


@dataclass
class TrainSettings:
    out: Path
    scenes: Path | None = None
    # more annotated scene sets (scenes-extra): trained on and cross-validated outside their test
    # part, as --scenes is; results are reported per set
    more_scenes: tuple[Path, ...] = ()
    crops: Path | None = None
    extra: Path | None = None  # an export of operators' reviews (maskwatch export-reviews): always trained on
    imagenet_weights: Path | None = None
    detector_weights: Path | None = None
    input_size: int = 128
    crop_margin: float = 0.15
    batch_size: int = 32
    samples_per_epoch: int = 4000
    hard_share: float = 0.2  # of each epoch's violation half: masks worn under the nose (3% of faces)
    # of each epoch's mask half: the detector's boxes of face score >= nonface_score on no annotated face
    nonface_share: float = 0.0
    nonface_score: float = 0.5
    # the face widths training views are shrunk to (dataset.view_width): None, the recipe's 9-96 px;
    # (lo, hi) for a face-size specialist, such as (6, 24) for a model of the tiny faces alone
    view_px: tuple[float, float] | None = None
    degrade: str = "recipe"  # maskwatch.models_config.DEGRADES
    # each scene set (--scenes, every --more-scenes) an equal share of the scene draws, instead of
    # one in proportion to its faces (scenes-extra's large web faces outnumber scenes-dev's CCTV-like
    # ones 3.6 to 1 among the violations). Measured (docs/model-card.md): it does not give back the
    # real people a model trained with scenes-extra loses
    balance_sets: bool = False
    # which of the --more-scenes sets' annotated faces are trained on: "all", or "incorrect" (the masks
    # worn incorrectly alone, the third verdict's faces, of which scenes-dev has 51); their images are
    # cross-validated whole either way. Measured (docs/model-card.md): the verdict improves, the
    # footage's people do not come back
    more_scenes_faces: str = "all"
    detector: DetectorConfig | None = None  # the workers' detector (None: the default one), its model detector_weights
    epochs_head: int = 3
    # 16 rather than 10: with 10 one fold's validation PR AUC was still rising as the cosine decay
    # reached zero; with 16 it is flat over the last four epochs and out-of-fold F1 rose 0.823 -> 0.841
    epochs_finetune: int = 16
    # block_6 rather than block_11 or block_3, measured on the val split (best epoch, val-chosen rule):
    # violation F1 0.807 / 0.776 / 0.790, AP 0.852 / 0.819 / 0.827
    finetune_from: str = "block_6_expand"
    lr_head: float = 1e-3
    lr_finetune: float = 1e-4
    seed: int = 1
    limit_crops: int | None = None
    folds: int = 4   # cross-validation folds for the decision rule; < 2: none (rule p >= 0.5)
    keep_folds: bool = False  # write each fold's model to out/folds/ (to measure ensembles and other levers)
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
    out = keras.layers.Dense(len(CLASSES), activation="softmax", name="verdict")(x)
    return keras.Model(inp, out, name="mask_classifier"), base


def violation_pr_auc():
    """PR-AUC of p(violation) = 1 - p(mask): the number the decision rule is about."""
    import keras

    class ViolationPRAUC(keras.metrics.AUC):
        def update_state(self, y_true, y_pred, sample_weight=None):
            hit = keras.ops.cast(keras.ops.reshape(y_true, (-1,)) > 0, "float32")
            return super().update_state(hit, 1.0 - y_pred[:, 0], sample_weight)

    return ViolationPRAUC(curve="PR", name="pr_auc")


def _batches(samples: Samples, settings: TrainSettings, seed: int, sources: dict[str, str]):
    import keras

    verdicts = samples.verdicts()
    sets = np.asarray([sources.get(stem, "") for stem in samples.scene]) if settings.balance_sets else None

    class Views(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = balanced_epoch(samples, settings.samples_per_epoch, self.rng, hard_share=settings.hard_share,
                                        nonface_share=settings.nonface_share, sets=sets)

        def __len__(self):
            return len(self.order) // settings.batch_size

        def __getitem__(self, i):
            idx = self.order[i * settings.batch_size:(i + 1) * settings.batch_size]
            x = np.stack([cctv_view(samples.patches[j], samples.face_px[j], settings.input_size,
                                    settings.crop_margin, self.rng, settings.view_px, settings.degrade)
                          for j in idx]).astype(np.float32)
            return x, verdicts[idx]

        def on_epoch_end(self):
            self.order = balanced_epoch(samples, settings.samples_per_epoch, self.rng, hard_share=settings.hard_share,
                                        nonface_share=settings.nonface_share, sets=sets)

    return Views()


def _load_pool(s: TrainSettings, scenes, detector: FaceDetector | None) -> Samples:
    parts = [samples_from_scenes(scenes, detector, nonface_score=s.nonface_score if s.nonface_share else None)]
    if s.crops:
        parts.append(samples_from_crop_folders(s.crops, s.limit_crops))
    if s.extra:
        reviews = samples_from_reviews(s.extra)
        log.info("%d reviewed faces from %s (%d violations)", len(reviews), s.extra, int(reviews.labels.sum()))
        parts.append(reviews)
    pool = Samples.concat(parts)
    if not len(pool) or len(set(pool.labels.tolist())) < 2:
        raise ValueError("training data needs faces of both classes; check --scenes and --crops")
    return pool


def _fit(train: Samples, val: tuple[np.ndarray, np.ndarray] | None, s: TrainSettings, seed: int,
         sources: dict[str, str]):
    """A fresh model trained on a fixed schedule (no epoch is picked: the last one is kept, so
    cross-validation scores exactly what the final run does). sources: each scene's set by stem."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model, base = build_model(s.input_size, s.imagenet_weights)
    history: dict[str, list[float]] = {}
    val_data = val if val is not None and len(val[1]) else None

    def phase(epochs, lr, phase_seed):
        if not epochs:
            return
        steps = epochs * max(1, s.samples_per_epoch // s.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.1)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", violation_pr_auc()])
        h = model.fit(_batches(train, s, phase_seed, sources), epochs=epochs, verbose=1 if s.progress else 0,
                      validation_data=val_data)
        for k, v in h.history.items():
            history.setdefault(k, []).extend(float(x) for x in v)

    base.trainable = False
    phase(s.epochs_head, s.lr_head, seed)
    base.trainable = True
    names = [layer.name for layer in base.layers]
    if s.finetune_from not in names:
        raise ValueError(f"finetune_from {s.finetune_from!r} is not a MobileNetV2 layer (e.g. block_6_expand)")
    start = names.index(s.finetune_from)
    for layer in base.layers[:start]:
        layer.trainable = False
    phase(s.epochs_finetune, s.lr_finetune, seed + 1)
    return model, history


def train(s: TrainSettings) -> dict:
    """Cross-validate on the non-test scenes to choose the decision rule, then train the shipped
    model on all of them; write model + metadata + figures to s.out. Test scenes are never read:
    the whole run is a selection loop, where asking for one is refused (heldout.selecting)."""
    from maskwatch.models.evaluation.heldout import selecting

    with selecting("maskwatch train: the folds, the rule and the calibration are chosen here"):
        return _train(s)


def _train(s: TrainSettings) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from maskwatch.models.evaluation import plots
    from maskwatch.models.training.export import agreement, export_tflite

    tf.config.experimental.enable_op_determinism()
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    # the detector the workers run: the rule is chosen on the faces it finds
    detector = build_detector((s.detector or DetectorConfig()).model_copy(update={"model": s.detector_weights})
                              ) if s.detector_weights else None
    scenes, sources = training_scenes(s)
    pool = _load_pool(s, faces_trained(s, scenes, sources), detector)
    log.info("%d training samples (%d no_mask) from %d scenes and the crop folders", len(pool),
             int(pool.labels.sum()), len(scenes))
    cv = None
    if s.folds >= 2 and scenes and detector is not None:
        keep = (lambda k, m: _save_without_optimizer(m, s, _fold_path(out, k))) if s.keep_folds else None
        cv = cross_validate(pool, scenes, detector, s.folds, s.input_size, s.crop_margin,
                            lambda part, val: _fit(part, val, s, s.seed, sources), keep, sources)
        cv.save(out / OOF_FILE)
    model, history = _fit(pool, None, s, s.seed, sources)
    _save_without_optimizer(model, s, out / "mask_classifier.keras")
    export_tflite(model, out / "mask_classifier.tflite")
    # the export is checked on up to 256 real scene faces where there are any
    scene_faces = pool.subset(np.flatnonzero(pool.source == "scene")[:256])
    check = agreement(model, out / "mask_classifier.tflite",
                      _views(scene_faces, s, 256) if len(scene_faces) else _views(pool, s, 64))
    threshold, min_score = cv.rule() if cv else (0.5, 0.0)
    chosen, calibration = calibrate(cv, out, min_score) if cv else (Calibration(), Calibration().to_meta())
    # the rule was chosen on raw out-of-fold p; the model serves calibrated p: the same cut, re-expressed
    served = float(chosen.apply(np.array([threshold]))[0])
    meta = _metadata(s, pool, history, check, round(served, 4), round(min_score, 3))
    meta["calibration"] = calibration
    if cv:
        meta["rule_detector"] = rule_detector(cv)
        meta["metrics"].update(out_of_fold=cv.summary(threshold, min_score), **three_class(cv, threshold, out))
        if len(cv.by_source) > 1:
            meta["metrics"]["out_of_fold_by_source"] = cv.summary_by_source(threshold, min_score)
    fold_curves = cv.mean_curves() if cv else {}
    if fold_curves:
        meta["training"]["held_out_fold_curves"] = fold_curves
    plots.training_curves({**history, **fold_curves}, out / "training_curves.png")
    (out / METADATA).write_text(json.dumps(meta, indent=2))
    ModelInfo.load(out)  # what we wrote must load
    _export_onnx(out, _views(scene_faces, s, 64) if len(scene_faces) else _views(pool, s, 64))
    return json.loads((out / METADATA).read_text())


def training_scenes(s: TrainSettings) -> tuple[list, dict[str, str]]:
    """The scenes trained on: each set (--scenes, every --more-scenes) outside its test split, so
    that `evaluate --compare` can read each set's test part, which no candidate trained on; and each
    one's set (its folder's name), for the report per set."""
    scenes: list = []
    sources: dict[str, str] = {}
    sets = ([("--scenes", s.scenes)] if s.scenes else []) + [("--more-scenes", r) for r in s.more_scenes]
    for flag, root in sets:
        mine = [x for x in load_scenes(root) if split_of(x.stem) != "test"]
        clash = sorted({x.stem for x in mine} & set(sources))
        if clash:
            raise ValueError(f"{flag} {root}: images named as in another set ({', '.join(clash[:3])}...): "
                             "folds and reports go by image name")
        scenes += mine
        sources.update({x.stem: Path(root).name for x in mine})
    return scenes, sources


def faces_trained(s: TrainSettings, scenes: list, sources: dict[str, str]) -> list:
    """The scenes with the faces trained on: every annotated face, or (more_scenes_faces "incorrect")
    of the --more-scenes sets only the masks worn incorrectly. Cross-validation still scores every
    face of every held-out scene."""
    if s.more_scenes_faces == "all":
        return scenes
    if s.more_scenes_faces != "incorrect":
        raise ValueError(f"more_scenes_faces {s.more_scenes_faces!r}: 'all' or 'incorrect'")
    main = Path(s.scenes).name if s.scenes else None
    return [sc if sources.get(sc.stem) == main else
            replace(sc, boxes=sc.boxes[sc.incorrect], violation=sc.violation[sc.incorrect],
                                incorrect=sc.incorrect[sc.incorrect]) for sc in scenes]


def _export_onnx(out: Path, crops: np.ndarray) -> None:
    """The ONNX file for GPU hosts without TensorFlow, where tf2onnx is installed (maskwatch[ml])."""
    from maskwatch.models.training.export_onnx import export_onnx
    try:
        export_onnx(out, crops)
    except ModelError as e:
        log.warning("classifier %s: no ONNX file: %s", out, e)


def _fold_path(out: Path, k: int) -> Path:
    (out / "folds").mkdir(exist_ok=True)
    return out / "folds" / f"fold{k}.keras"


def _save_without_optimizer(model, s: TrainSettings, path: Path) -> None:
    """The shipped file needs weights only: optimizer slots would triple its size."""
    fresh, _ = build_model(s.input_size, None)
    fresh.set_weights(model.get_weights())
    fresh.save(path)


def _views(samples: Samples, s: TrainSettings, n: int) -> np.ndarray:
    return np.stack([plain_view(p, s.input_size, s.crop_margin) for p in samples.patches[:n]]).astype(np.float32)


def _plain(value):
    """A setting as JSON holds it: paths (alone or in a tuple, such as more_scenes) as strings."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _metadata(s, train_set, history, check, threshold, min_score) -> dict:
    counts = {f"{src}/{CLASSES[lab]}": int(((train_set.source == src) & (train_set.labels == lab)).sum())
              for src in ("crops", "scene", "detector", "review", "nonface") for lab in (0, 1)}
    settings = {k: _plain(v) for k, v in asdict(s).items() if k not in ("out", "progress", "detector")}
    settings["detector"] = (s.detector or DetectorConfig()).model_dump(mode="json", exclude={"model"})
    return {
        "schema": SCHEMA,
        "name": "maskwatch-mobilenetv2",
        "version": dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M"),
        "trained": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "classes": CLASSES,
        "output": "softmax over classes; p(violation) = 1 - p(mask), calibrated by the map in "
                  "'calibration'; a violation is mask_incorrect when p(mask_incorrect) is at least half of it",
        "input_size": s.input_size,
        "input": "RGB float32 in 0..255 (the model rescales to -1..1 itself)",
        "crop_margin": s.crop_margin,
        "crop": "square around the face box, side = longest side * (1 + crop_margin), border replicated",
        "threshold": threshold,
        "min_face_score": min_score,
        "decision": "a violation when calibrated p(violation) >= threshold and the face score >= "
                    "min_face_score (tiny, doubtful detections are never called violations)",
        "files": {"keras": "mask_classifier.keras", "tflite": "mask_classifier.tflite"},
        "embedding": embedding_meta(),
        "data": {"train_samples": counts,
                 "more_scenes": [Path(p).name for p in s.more_scenes],
                 "split": "scenes by image: sha1(stem) % 10 in 0-1 is test (never read); the others are "
                          "trained on" + (" (in every scene set, the more_scenes ones too)" if s.more_scenes else "")
                          + (f", and cross-validated in {s.folds} folds by sha1(stem) // 10 % {s.folds} "
                             "to choose the decision rule" if s.folds >= 2 else "")},
        "training": {"settings": settings, "epochs": s.epochs_head + s.epochs_finetune,
                     "history": {k: [round(x, 4) for x in v] for k, v in history.items()}},
        "export_check": check,
        "metrics": {},
    }
