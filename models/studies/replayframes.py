"""The footage as `replaytracks` and the studies beside it replay it: each frame read at a rate
through the pipeline once, as the detections a worker would send (every face classified), with the
torso's colours and the camera's pose beside them, cached per video, model and detector."""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskwatch.ingest.camera_motion import CameraPose
from maskwatch.models.appearance import CLOTHING_DIM, clothing
from maskwatch.models.evaluation.facerecall import frames
from maskwatch.models.evaluation.videotruth import labelled_videos, load_truth
from maskwatch.wire.pose import Pose


@dataclass
class Frame:
    t: float
    boxes: np.ndarray
    scores: np.ndarray
    p: np.ndarray
    p_incorrect: np.ndarray | None
    face: np.ndarray | None      # embeddings (zero rows: not classified)
    body: np.ndarray             # clothing descriptors (zero rows: torso out of the frame)
    pose: Pose | None            # the camera's pose (ingest.camera_motion)
    face_id: np.ndarray | None = None  # dlib's face-recognition descriptors (--face-id; zero rows: none)
    learned: np.ndarray | None = None  # a metric learnt on the other videos (--select learned; never cached)


def detect(pipeline, video: Path, truth: dict, fps: float, phase: int = 0) -> list[Frame]:
    step = max(1, round(truth["fps"] / fps))
    clock = [0.0]
    out, camera = [], CameraPose("auto", clock=lambda: clock[0])
    for n, img in frames(video, step, phase=phase % step):
        clock[0] = n / truth["fps"]  # frame n's moment, as the labels count it
        (d,) = pipeline.run([img])  # every face classified: replay() leaves out what a worker would
        body = np.zeros((len(d), CLOTHING_DIM), np.float32)
        for i, b in enumerate(d.boxes):
            c = clothing(img, b)
            if c is not None:
                body[i] = c
        out.append(Frame(clock[0], d.boxes, d.scores, d.p_no_mask, d.p_incorrect,
                         d.embeddings, body, camera.update(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))))
    return out


def cache_key(pipeline) -> str:
    """The detector the cached detections came from (its factors, cap and weights), short."""
    from maskwatch.models.build import DEFAULT_DETECTOR

    d = pipeline.detector
    key = "up" + "_".join(f"{u:g}" for u in d.scales) + f"-max{d.max_side:g}"
    if Path(d.model_path) != DEFAULT_DETECTOR:  # a fine-tuned file's faces are its own
        key += "-" + hashlib.sha1(Path(d.model_path).read_bytes()).hexdigest()[:8]
    return key


def load(pipeline, stem: str, video: Path, truth: dict, cache: Path, fps: float, phase: int = 0,
         face_id=None) -> list[Frame]:
    """One video's frames through the pipeline, from the cache when it holds them."""
    # the detections are the model's and the detector's: a cache of another model's must not be read
    at = f"-phase{phase}" if phase else ""
    path = cache / f"{stem}-{fps:g}fps{at}-{pipeline.classifier.info.version}-{cache_key(pipeline)}-v3.pkl"
    if path.is_file():
        frames_ = [Frame(**f) for f in pickle.loads(path.read_bytes())]
    else:
        frames_ = detect(pipeline, video, truth, fps, phase)
        path.write_bytes(pickle.dumps([vars(f) for f in frames_]))
    if face_id is not None:
        from maskwatch.models.studies.dlibface import with_face_id
        with_face_id(frames_, face_id, video, max(1, round(truth["fps"] / fps)), pipeline.min_face_score,
                     path.with_name(path.stem + f"-faceid{face_id.key()}.pkl"))
    return frames_


def load_all(pipeline, videos: list[Path], labels: Path, cache: Path, fps: float, phase: int = 0,
             face_id=None) -> dict[str, tuple[list[Frame], dict]]:
    """Every labelled video in `videos`: stem -> (its frames, its truth)."""
    return {stem: (read[0], truth) for stem, (read, truth) in
            load_phases(pipeline, videos, labels, cache, fps, phase, 1, face_id).items()}


def load_phases(pipeline, videos: list[Path], labels: Path, cache: Path, fps: float, first: int = 0,
                phases: int = 1, face_id=None) -> dict[str, tuple[list[list[Frame]], dict]]:
    """Every labelled video read from each of `phases` phases on from `first`, as far as its frame
    step makes them distinct (a 25 fps video read at 5 fps has five, a 30 fps one six): stem ->
    (each phase's frames, truth). A real-time reader's clock picks any of them."""
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for stem, video in labelled_videos(videos, labels):
        truth = load_truth(stem, labels, video.parent)
        step = max(1, round(truth["fps"] / fps))
        out[stem] = ([load(pipeline, stem, video, truth, cache, fps, k, face_id)
                      for k in range(first, first + min(phases, step))], truth)
    return out
