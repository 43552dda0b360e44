"""YuNet inference backends: ONNX Runtime (fast) and OpenCV's FaceDetectorYN (the reference).

Both take one BGR image and return (boxes x1 y1 x2 y2, scores) in its pixels. ONNX Runtime runs the
same network 3x faster than OpenCV's DNN module on these CPUs (yunet_n at 640x360, one thread:
~4 ms against ~13 ms), so it serves by default; its decoding repeats FaceDetectorYN's (a test checks
that both give the same faces). The shipped ONNX files have a fixed 640x640 input: the ONNX Runtime
backend makes height and width free when it loads them, so any frame size runs without resizing.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from maskwatch.errors import MaskwatchError

STRIDES = (8, 16, 32)
BACKENDS = ("auto", "onnxruntime", "opencv")


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)


class OpenCVYuNet:
    name = "opencv"

    def __init__(self, path: Path, score_threshold: float, nms_threshold: float, top_k: int,
                 threads: int | None):
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, nms_threshold, top_k)
        except cv2.error as e:
            raise ValueError(f"face detector weights unreadable: {path}: {e}") from e
        # threads: OpenCV's pool is process-wide; FaceDetector sets it

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._net.setInputSize((image.shape[1], image.shape[0]))
        _, faces = self._net.detect(image)
        if faces is None:
            return _empty()
        x, y, w, h = faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 3]
        return np.column_stack([x, y, x + w, y + h]).astype(np.float32), faces[:, 14].astype(np.float32)


PROVIDERS = {"cpu": ["CPUExecutionProvider"],
             "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
             "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}


class DeviceError(MaskwatchError, ValueError):
    """The asked execution provider is not in this ONNX Runtime; the message says what is."""


def providers_for(device: str, available: list[str]) -> list[str]:
    """The providers for a device, in order; DeviceError when its first one is missing here."""
    if device not in PROVIDERS:
        raise DeviceError(f"detector.device {device!r}: expected one of {', '.join(PROVIDERS)}")
    wanted = PROVIDERS[device]
    if wanted[0] not in available:
        raise DeviceError(f"detector.device {device}: ONNX Runtime here has no {wanted[0]} (it has "
                          f"{', '.join(available) or 'none'}); install onnxruntime-gpu on a GPU host, or set "
                          f"detector.device: cpu")
    return [p for p in wanted if p in available]


class OrtYuNet:
    name = "onnxruntime"

    def __init__(self, path: Path, score_threshold: float, nms_threshold: float, top_k: int,
                 threads: int | None, device: str = "cpu"):
        import onnx
        import onnxruntime as ort

        providers = providers_for(device, ort.get_available_providers())  # before the file: the clearer error
        self.name = "onnxruntime" if device == "cpu" else f"onnxruntime/{device}"
        try:
            model = onnx.load(str(path))
            _free_spatial_dims(model)
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = threads or 0
            opts.inter_op_num_threads = 1
            # several worker processes share the cores: idle threads must sleep, not spin
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sess = ort.InferenceSession(model.SerializeToString(), opts, providers=providers)
        except Exception as e:  # onnx and onnxruntime raise their own, unrelated exception types
            raise ValueError(f"face detector weights unreadable: {path}: {e}") from e
        self._input = self._sess.get_inputs()[0].name
        self._outputs = [f"{kind}_{s}" for s in STRIDES for kind in ("cls", "obj", "bbox")]
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        # as FaceDetectorYN: pad right and bottom to a multiple of the largest stride
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        out = self._sess.run(self._outputs, {self._input: blob})
        boxes, scores = [], []
        for i, stride in enumerate(STRIDES):
            cls, obj, bbox = (o.reshape(o.shape[1], -1) for o in out[3 * i:3 * i + 3])
            score = np.sqrt(np.clip(cls[:, 0], 0, 1) * np.clip(obj[:, 0], 0, 1))
            keep = np.flatnonzero(score >= self.score_threshold)
            if not len(keep):
                continue
            cols = pw // stride
            col, row = keep % cols, keep // cols
            cx, cy = (col + bbox[keep, 0]) * stride, (row + bbox[keep, 1]) * stride
            bw, bh = np.exp(bbox[keep, 2]) * stride, np.exp(bbox[keep, 3]) * stride
            boxes.append(np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]))
            scores.append(score[keep])
        if not boxes:
            return _empty()
        boxes_a, scores_a = np.concatenate(boxes).astype(np.float32), np.concatenate(scores).astype(np.float32)
        # FaceDetectorYN suppresses on integer rectangles: the same here, or near-ties differ
        xywh = np.column_stack([boxes_a[:, :2], boxes_a[:, 2:] - boxes_a[:, :2]]).astype(np.int32).tolist()
        keep = np.asarray(cv2.dnn.NMSBoxes(xywh, scores_a.tolist(), self.score_threshold, self.nms_threshold,
                                           1.0, self.top_k), np.int64).reshape(-1)
        return boxes_a[keep], scores_a[keep]


def _free_spatial_dims(model) -> None:
    """Let the input's height and width (and so every output's length) vary."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in model.graph.output:
        for i, d in enumerate(out.type.tensor_type.shape.dim):
            d.dim_param = f"{out.name}_{i}"


def ort_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def load_yunet(path: Path, backend: str, score_threshold: float, nms_threshold: float, top_k: int,
               threads: int | None, device: str = "cpu"):
    if backend not in BACKENDS:
        raise ValueError(f"face detector backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "onnxruntime" if ort_available() else "opencv"
    if backend == "onnxruntime":
        return OrtYuNet(path, score_threshold, nms_threshold, top_k, threads, device)
    if device != "cpu":
        raise DeviceError(f"detector.device {device} needs detector.backend onnxruntime (OpenCV's runs on the CPU)")
    return OpenCVYuNet(path, score_threshold, nms_threshold, top_k, threads)
