"""Face detection then one batched classification over every face of a batch of images."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from maskwatch.detections import Detections
from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.crops import crop_faces
from maskwatch.models.detector import FaceDetector
from maskwatch.models.widefaces import WideFaces


@dataclass
class StageTimes:
    """Accumulated wall time per stage, for reports and benchmarks."""
    images: int = 0
    faces: int = 0
    detect_s: float = 0.0
    classify_s: float = 0.0

    def per_image_ms(self) -> dict:
        n = max(self.images, 1)
        return {"detect_ms": round(self.detect_s / n * 1000, 1),
                "classify_ms": round(self.classify_s / n * 1000, 1),
                "faces_per_image": round(self.faces / n, 2)}


class MaskPipeline:
    def __init__(self, detector: FaceDetector, classifier: MaskClassifier,
                 threshold: float | None = None, min_face_px: float = 0.0, min_face_score: float | None = None,
                 wide: WideFaces | None = None):
        self.detector = detector
        self.classifier = classifier
        self.wide = wide  # a second model for the wide faces (classifier.large_faces), or None
        self.threshold = classifier.info.threshold if threshold is None else threshold
        self.min_face_score = classifier.info.min_face_score if min_face_score is None else min_face_score
        self.min_face_px = min_face_px
        self.times = StageTimes()

    def run(self, images: list[np.ndarray], skip_doubtful: bool = False,
            regions: list | None = None, max_sides: list[int | None] | None = None,
            classify_from: float | None = None) -> list[Detections]:
        """Classified faces for each BGR image, in order. With skip_doubtful, faces below the
        rule's minimum face score (never violations) are not classified: p_no_mask 0; or below
        classify_from, where faces under the rule's may still vote (on a track seen sure). regions[i]
        (motion gating): None, look at the whole image; [], nothing changed, look nowhere; else
        look only inside those boxes. max_sides[i]: the image's camera's own detector cap, if any."""
        t0 = time.perf_counter()
        found = self.detector.detect_many(images, regions, max_sides)
        if self.min_face_px:
            found = [d.subset(d.widths >= self.min_face_px) for d in found]
        t1 = time.perf_counter()
        size, margin = self.classifier.input_size, self.classifier.info.crop_margin
        bar = (self.min_face_score if classify_from is None else classify_from) if skip_doubtful else -1.0
        wanted = [d.scores >= bar for d in found]
        crops = [crop_faces(img, d.boxes[w], size, margin) for img, d, w in zip(images, found, wanted)]
        # one call: p(no_mask) and the appearance embedding come out of the same pass
        p, inc, emb = self.classifier.predict_verdicts(np.concatenate(crops)) if crops else (np.zeros(0), None, None)
        again = self.wide.judge(images, [d.boxes[w] for d, w in zip(found, wanted)], self.threshold) \
            if self.wide is not None else [None] * len(found)
        t2 = time.perf_counter()
        out, start = [], 0
        for d, w, second in zip(found, wanted, again):
            n = int(w.sum())
            pd = np.zeros(len(d), np.float32)
            pd[w] = p[start:start + n]
            ed = qd = None
            if emb is not None:
                ed = np.zeros((len(d), emb.shape[1]), np.float32)  # zero rows: not classified, no identity
                ed[w] = emb[start:start + n]
            if inc is not None:
                qd = np.zeros(len(d), np.float32)
                qd[w] = inc[start:start + n]
            if second is not None:  # the wide faces' verdicts are the second model's; embeddings stay
                at, p2, share = second
                at = np.flatnonzero(w)[at]
                pd[at] = p2
                if qd is not None and share is not None:
                    qd[at] = share
            out.append(d.with_p_no_mask(pd, ed, qd))
            start += n
        self.times.images += len(images)
        self.times.faces += sum(len(d) for d in found)
        self.times.detect_s += t1 - t0
        self.times.classify_s += t2 - t1
        return out

    def labels(self, det: Detections) -> list[str]:
        return det.labels(self.threshold, self.min_face_score)
