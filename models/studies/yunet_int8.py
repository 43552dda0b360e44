"""`python -m maskwatch.models.studies.yunet_int8 --scenes DIR --video VIDEO... [--out DIR]`: a faithful
int8 YuNet? ONNX Runtime's static quantization (QDQ, per-channel weights) calibrated on real video
frames, against the shipped float file through the detector the workers run (upscale [1, 2, 3]):
face recall on the scenes' non-test images (IoU >= 0.3 with an annotated face), the detections the
two agree on, and the time per frame of each on the same frames, interleaved (a ratio, so a busy
machine costs both alike). The rule to ship it: face recall within 0.005 and faster.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from maskwatch.geometry import iou_matrix
from maskwatch.models.build import DEFAULT_DETECTOR
from maskwatch.models.detector import FaceDetector
from maskwatch.models.evaluation.voc import load_scenes, split_of

CALIBRATION_FRAMES = 48


def calibration_frames(videos: list[Path], n: int, size: tuple[int, int] = (640, 384)) -> list[np.ndarray]:
    out = []
    for v in videos:
        cap = cv2.VideoCapture(str(v))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
        for k in range(n // len(videos)):
            cap.set(cv2.CAP_PROP_POS_FRAMES, k * total // (n // len(videos)))
            ok, img = cap.read()
            if ok:
                out.append(cv2.resize(img, size))
        cap.release()
    return out


def quantize(src: Path, dst: Path, frames: list[np.ndarray]) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from maskwatch.models.yunet import _free_dims

    model = onnx.load(str(src))
    _free_dims(model)
    if model.opset_import[0].version < 13:  # per-channel QDQ needs DequantizeLinear's axis (opset 13)
        from onnx import version_converter

        model = version_converter.convert_version(model, 13)
    free = dst.with_suffix(".float.onnx")
    onnx.save(model, str(free))
    name = model.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{name: f.transpose(2, 0, 1)[None].astype(np.float32)} for f in frames])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(free), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    free.unlink()


def recall(det: FaceDetector, scenes) -> tuple[int, int, float]:
    found = total = 0
    spent = 0.0
    for sc in scenes:
        img = cv2.imread(str(sc.image))
        t = time.perf_counter()
        d = det.detect(img)
        spent += time.perf_counter() - t
        total += len(sc.boxes)
        if len(sc.boxes) and len(d):
            found += int((iou_matrix(sc.boxes, d.boxes).max(axis=1) >= 0.3).sum())
    return found, total, spent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=Path, required=True)
    ap.add_argument("--video", type=Path, nargs="+", required=True)
    ap.add_argument("--out", type=Path, default=Path("out/yunet-int8"))
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    int8 = a.out / "yunet_n_int8.onnx"
    quantize(DEFAULT_DETECTOR, int8, calibration_frames(a.video, CALIBRATION_FRAMES))
    kw = dict(score_threshold=0.3, upscale=(1.0, 2.0, 3.0), threads=1)
    dets = {"float32": FaceDetector(DEFAULT_DETECTOR, **kw), "int8": FaceDetector(int8, **kw)}
    scenes = [s for s in load_scenes(a.scenes) if split_of(s.stem) != "test"]
    result = {"images": len(scenes), "calibration_frames": CALIBRATION_FRAMES}
    totals = {k: [0, 0, 0.0] for k in dets}
    for i in range(0, len(scenes), 20):  # interleaved: the same load on both
        for name, det in dets.items():
            f, t, s = recall(det, scenes[i:i + 20])
            totals[name] = [totals[name][0] + f, totals[name][1] + t, totals[name][2] + s]
    for name, (f, t, s) in totals.items():
        result[name] = {"face_recall": round(f / t, 4), "faces": t, "ms_per_image": round(1000 * s / len(scenes), 1)}
    result["speedup"] = round(totals["float32"][2] / totals["int8"][2], 2)
    result["file_mb"] = round(int8.stat().st_size / 2**20, 2)
    (a.out / "yunet_int8.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
