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

from maskwatch.models.providers import Bound, DeviceError, bind_to, providers_for, session

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


class OrtYuNet:
    name = "onnxruntime"

    def __init__(self, path: Path, score_threshold: float, nms_threshold: float, top_k: int,
                 threads: int | None, device: str = "cpu"):
        import onnx
        import onnxruntime as ort

        providers_for(device, ort.get_available_providers())  # before the file: the clearer error
        self.name = "onnxruntime" if device == "cpu" else f"onnxruntime/{device}"
        try:
            model = onnx.load(str(path))
            _free_dims(model)
            uint8_input(model)
            self._sess = session(model.SerializeToString(), device, threads, "detector")
        except DeviceError:
            raise
        except Exception as e:  # onnx and onnxruntime raise their own, unrelated exception types
            raise ValueError(f"face detector weights unreadable: {path}: {e}") from e
        self._input = self._sess.get_inputs()[0].name
        self._run = Bound(self._sess, [f"{kind}_{s}" for s in STRIDES for kind in ("cls", "obj", "bbox")],
                          bind_to(device))
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        # as FaceDetectorYN: pad right and bottom to a multiple of the largest stride
        blob = np.zeros((1, 3, _up32(h), _up32(w)), np.uint8)
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        return self.run_batch(blob, [(h, w)])[0]

    def run_batch(self, blob: np.ndarray, sizes: list[tuple[int, int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Faces in each image of an (N, 3, H, W) uint8 blob, each image at its top left and
        (h, w) = sizes[i] of it real (the rest zero padding, where no face is decoded)."""
        ph, pw = blob.shape[2:]
        out = self._run({self._input: np.ascontiguousarray(blob)})
        return [self._decode([o[n] for o in out], pw, h, w) for n, (h, w) in enumerate(sizes)]

    def _decode(self, out: list[np.ndarray], pw: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        boxes, scores = [], []
        for i, stride in enumerate(STRIDES):
            cls, obj, bbox = (o.reshape(-1, o.shape[-1]) for o in out[3 * i:3 * i + 3])
            score = np.sqrt(np.clip(cls[:, 0], 0, 1) * np.clip(obj[:, 0], 0, 1))
            cols = pw // stride
            col, row = np.arange(len(score)) % cols, np.arange(len(score)) // cols
            # anchors over letterbox padding beyond what a single image's own padding would be
            inside = (col * stride < _up32(w)) & (row * stride < _up32(h))
            keep = np.flatnonzero((score >= self.score_threshold) & inside)
            if not len(keep):
                continue
            col, row = col[keep], row[keep]
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


def _up32(n: int) -> int:
    return -(-n // 32) * 32


def uint8_input(model) -> None:
    """The network takes the image as uint8 and casts it to float itself: the host builds and
    copies a quarter of the bytes (16 frames of 720p are 181 MB as float32, 44 MB as uint8), and a
    GPU gets them over PCIe as such. The same numbers reach the first convolution."""
    from onnx import TensorProto, helper

    inp = model.graph.input[0]
    name = inp.name
    raw = helper.make_tensor_value_info(f"{name}_u8", TensorProto.UINT8, None)
    raw.type.tensor_type.shape.CopyFrom(inp.type.tensor_type.shape)
    cast = helper.make_node("Cast", [f"{name}_u8"], [name], to=TensorProto.FLOAT, name=f"{name}_cast")
    model.graph.node.insert(0, cast)
    del model.graph.input[0]
    model.graph.input.insert(0, raw)


def _free_dims(model) -> None:
    """Let the input's batch, height and width (and so every output's length) vary. The graph
    flattens each head with Reshape(shape=[1, -1, C]): a leading 0 there keeps the batch instead."""
    from onnx import numpy_helper

    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = "batch", "height", "width"
    for out in model.graph.output:
        for i, d in enumerate(out.type.tensor_type.shape.dim):
            d.dim_param = f"{out.name}_{i}"
    shapes = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    for init in model.graph.initializer:
        if init.name in shapes:
            v = numpy_helper.to_array(init).copy()
            if v.ndim == 1 and len(v) == 3 and v[0] == 1:
                v[0] = 0
                init.CopyFrom(numpy_helper.from_array(v, init.name))
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
