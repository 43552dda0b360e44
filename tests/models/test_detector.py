import cv2
import numpy as np
import pytest

from maskwatch.geometry import iou_matrix
from maskwatch.models.build import DEFAULT_DETECTOR
from maskwatch.models.detector import FaceDetector, nms, plan_tiles, scales_of, working_scale, working_scales
from maskwatch.models.evaluation.voc import load_annotation


class MarkerDetector(FaceDetector):
    """A small fake: 'finds' the white squares of a synthetic frame in whatever tile it is given,
    so the mapping back through resize and tiling can be checked exactly."""

    def _run(self, tile):
        mask = (tile[:, :, 0] > 200).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:]]
        return np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32)


def synthetic(h=300, w=400):
    img = np.zeros((h, w, 3), np.uint8)
    squares = [(20, 30, 60, 70), (180, 120, 200, 140), (330, 220, 390, 290)]
    for x1, y1, x2, y2 in squares:
        img[y1:y2, x1:x2] = 255
    return img, np.asarray(squares, np.float32)


@pytest.mark.parametrize("upscale,tiles", [(1.0, (1, 1)), (2.0, (1, 1)), (1.5, (2, 2)), (2.0, (3, 2)), (0.5, (1, 1)),
                                           ((1.0, 2.0, 3.0), (1, 1)), ((1.0, 2.0), (2, 2))])
def test_boxes_map_back_to_input_pixels(upscale, tiles):
    img, truth = synthetic()
    det = MarkerDetector(DEFAULT_DETECTOR, upscale=upscale, tiles=tiles, tile_overlap=0.25).detect(img)
    assert len(det) == len(truth)  # tiles overlap, NMS merges the copies
    best = iou_matrix(truth, det.boxes).max(axis=1)
    assert best.min() > 0.85, best


class SizeRecorder(MarkerDetector):
    """Remembers the width of every view it is shown."""

    def _run(self, tile):
        self.widths = getattr(self, "widths", []) + [tile.shape[1]]
        return super()._run(tile)


@pytest.mark.parametrize("caps, widths", [
    (None, [400, 800, 1200, 400, 800, 1200]),            # detector.max_side 1280: 1x, 2x, 3x for both
    ([None, 600], [400, 800, 1200, 400, 600]),          # the second camera's own cap: 1x and 1.5x
    ([1920, 400], [400, 800, 1200, 400]),               # a cap of its own size: looked at once
])
def test_a_camera_s_own_cap_sets_its_views_alone(caps, widths):
    img, truth = synthetic()
    det = SizeRecorder(DEFAULT_DETECTOR, upscale=(1.0, 2.0, 3.0), max_side=1280)
    found = det.detect_many([img, img], max_sides=caps)
    assert sorted(det.widths) == sorted(widths)
    assert all(iou_matrix(truth, d.boxes).max(axis=1).min() > 0.85 for d in found)  # boxes in frame pixels


def test_plan_tiles_cover_the_image_with_overlap():
    tiles = plan_tiles(1000, 600, 3, 2, 0.2)
    assert len(tiles) == 6
    covered = np.zeros((600, 1000), bool)
    for t in tiles:
        assert t.x >= 0 and t.y >= 0 and t.x + t.w <= 1000 and t.y + t.h <= 600
        covered[t.y:t.y + t.h, t.x:t.x + t.w] = True
    assert covered.all()
    assert tiles[1].x < tiles[0].x + tiles[0].w  # neighbours overlap


def test_working_scale_respects_max_side():
    assert working_scale(400, 300, 2.0, 1280) == 2.0
    assert working_scale(1280, 720, 2.0, 1280) == 1.0
    assert working_scale(3840, 2160, 1.0, 1920) == 0.5


@pytest.mark.parametrize("w,h,scales,max_side,expected", [
    (400, 300, (1.0, 2.0, 3.0), 1280, [1.0, 2.0, 3.0]),
    (1280, 720, (1.0, 2.0, 3.0), 1280, [1.0]),          # a 720p camera under the cap: one pass, at 1x
    (500, 400, (1.0, 2.0, 3.0), 1280, [1.0, 2.0, 2.56]),  # 3x is capped, and differs from 2x
    (640, 640, (2.0, 3.0), 1280, [2.0]),                  # both capped to the same factor: looked at once
    (400, 300, (2.0,), 1280, [2.0]),
])
def test_working_scales_run_each_distinct_capped_factor_once(w, h, scales, max_side, expected):
    assert working_scales(w, h, scales, max_side) == pytest.approx(expected)


@pytest.mark.parametrize("upscale,expected", [(2, (2.0,)), ((3.0, 1.0, 3.0), (1.0, 3.0)), ([2.0], (2.0,))])
def test_scales_of_sorts_and_drops_repeats(upscale, expected):
    assert scales_of(upscale) == expected


@pytest.mark.parametrize("upscale", [0, -1.0, (), (1.0, 0.0)])
def test_scales_of_rejects_what_is_not_a_positive_factor(upscale):
    with pytest.raises(ValueError, match="upscale factors must be positive"):
        scales_of(upscale)


def test_several_scales_keep_each_face_at_its_most_confident(scenes_dir):
    """1x + 2x + 3x on real scenes: every face 2x alone finds is there, at least as confident (NMS
    across the scales keeps the surest box), and some face is surer than 2x alone made it."""
    one = FaceDetector(DEFAULT_DETECTOR, upscale=2.0, score_threshold=0.3)
    many = FaceDetector(DEFAULT_DETECTOR, upscale=(1.0, 2.0, 3.0), score_threshold=0.3)
    surer = 0
    for path in sorted((scenes_dir / "images").iterdir()):
        img = cv2.imread(str(path))
        a, b = one.detect(img), many.detect(img)
        if not len(a):
            continue
        assert len(b), path.name
        ious = iou_matrix(a.boxes, b.boxes)
        for i in range(len(a)):
            near = ious[i] >= 0.3
            assert near.any(), (path.name, a.boxes[i])
            assert b.scores[near].max() >= a.scores[i] - 1e-6, (path.name, a.boxes[i])
            surer += b.scores[near].max() > a.scores[i] + 0.05
    assert surer > 0


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.6, 0.9, 0.5], np.float32), 0.3)
    assert sorted(keep.tolist()) == [1, 2]


def test_yunet_finds_the_annotated_faces(scenes_dir):
    """The real detector on a real CC0 scene: most annotated faces >= 24 px are found."""
    img = cv2.imread(str(scenes_dir / "images" / "maksssksksss327.jpg"))
    gt, _ = load_annotation(scenes_dir / "annotations" / "maksssksksss327.xml")
    det = FaceDetector(DEFAULT_DETECTOR, upscale=2.0, score_threshold=0.5).detect(img)
    big = gt[(gt[:, 2] - gt[:, 0]) >= 24]
    hits = (iou_matrix(big, det.boxes) >= 0.3).any(axis=1)
    assert hits.mean() >= 0.8
    assert (det.boxes[:, 2] <= img.shape[1]).all() and (det.boxes[:, 3] <= img.shape[0]).all()


@pytest.mark.parametrize("content,match", [(None, "not found"), (b"not an onnx model", "unreadable")])
def test_bad_detector_weights_name_the_file(tmp_path, content, match):
    path = tmp_path / "yunet.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((FileNotFoundError, ValueError), match=match) as e:
        FaceDetector(path)
    assert str(path) in str(e.value)


def test_detector_rejects_a_non_image():
    with pytest.raises(ValueError, match="HxWx3"):
        FaceDetector(DEFAULT_DETECTOR).detect(np.zeros((10, 10), np.uint8))


def test_onnxruntime_backend_finds_what_opencv_finds(scenes_dir):
    """The fast backend decodes YuNet itself: it must give FaceDetectorYN's faces on real scenes."""
    opencv = FaceDetector(DEFAULT_DETECTOR, upscale=2.0, score_threshold=0.3, backend="opencv")
    ort = FaceDetector(DEFAULT_DETECTOR, upscale=2.0, score_threshold=0.3, backend="onnxruntime")
    assert (opencv.backend, ort.backend) == ("opencv", "onnxruntime")
    faces = 0
    for path in sorted((scenes_dir / "images").iterdir()):
        img = cv2.imread(str(path))
        a, b = opencv.detect(img), ort.detect(img)
        assert len(a) == len(b), path.name
        if len(a):
            match = iou_matrix(a.boxes, b.boxes)
            assert match.max(axis=1).min() > 0.98, path.name
            np.testing.assert_allclose(np.sort(a.scores), np.sort(b.scores), atol=1e-3)
        faces += len(a)
    assert faces > 50
    # it gets the image as uint8 and casts it itself (yunet.uint8_input): a quarter of the bytes
    (inp,) = ort._net._sess.get_inputs()
    assert inp.type == "tensor(uint8)" and inp.shape[1] == 3


def test_unknown_detector_backend_is_named():
    with pytest.raises(ValueError, match="'tensorrt'"):
        FaceDetector(DEFAULT_DETECTOR, backend="tensorrt")


@pytest.mark.parametrize(("device", "available", "expected"), [
    ("cpu", ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("tensorrt", ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
     ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]),
    ("tensorrt", ["TensorrtExecutionProvider", "CPUExecutionProvider"], ["TensorrtExecutionProvider",
                                                                         "CPUExecutionProvider"]),
])
def test_the_device_picks_onnx_runtimes_providers(device, available, expected):
    from maskwatch.models.providers import providers_for

    assert providers_for(device, available) == expected


@pytest.mark.parametrize(("device", "backend", "message"), [
    ("cuda", "onnxruntime", "detector.device cuda: ONNX Runtime here has no CUDAExecutionProvider (it has "),
    ("tensorrt", "onnxruntime", "has no TensorrtExecutionProvider"),
    ("cuda", "opencv", "detector.device cuda needs detector.backend onnxruntime"),
])
def test_a_missing_gpu_provider_is_a_clear_error(device, backend, message):
    import onnxruntime as ort

    from maskwatch.models.providers import DeviceError

    if device == "cuda" and backend == "onnxruntime" and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    with pytest.raises(DeviceError, match=message.replace("(", r"\(")):
        FaceDetector(DEFAULT_DETECTOR, backend=backend, device=device)


def test_the_cli_says_it_in_one_line(tmp_path, scene_images):
    import subprocess
    import sys

    from support.settings import ROOT

    cfg = tmp_path / "gpu.yaml"
    cfg.write_text("detector:\n  device: tensorrt\n")
    r = subprocess.run([sys.executable, "-m", "maskwatch.cli", "detect", "-c", str(cfg), str(scene_images[0])],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "detector.device tensorrt: ONNX Runtime here has no" in r.stderr
    assert "Traceback" not in r.stderr
