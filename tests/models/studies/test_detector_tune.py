"""Fine-tuning YuNet (maskwatch.models.studies.detector_tune): the torch port serves as the ONNX file does, labels
go where the faces are, and a fine-tuned file is measured by maskwatch.models.studies.detlevers."""
import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the detector fine-tuner needs PyTorch: pip install -e '.[detector-tune]'")

from maskwatch.models.build import DEFAULT_DETECTOR  # noqa: E402
from maskwatch.models.studies import detector_tune, detlevers  # noqa: E402
from maskwatch.models.studies.yunet_torch import TorchYuNet, decode, priors  # noqa: E402


def canvas(scene_images) -> np.ndarray:
    image = cv2.resize(cv2.imread(str(scene_images[0])), (640, 640))
    return image.transpose(2, 0, 1)[None].astype(np.float32)


def onnx_outputs(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x})))


def test_weights_written_back_serve_as_the_torch_graph_computes(scene_images, tmp_path):
    x = canvas(scene_images)
    net = TorchYuNet(DEFAULT_DETECTOR)
    with torch.no_grad():
        before = {k: v.numpy() for k, v in net.probabilities(torch.from_numpy(x)).items()}
    shipped = onnx_outputs(DEFAULT_DETECTOR, x)
    assert all(np.abs(before[k] - shipped[k]).max() < 1e-4 for k in shipped)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.01)  # weights that differ from the shipped file's
        after = {k: v.numpy() for k, v in net.probabilities(torch.from_numpy(x)).items()}
    net.to_onnx(tmp_path / "tuned.onnx")
    served = onnx_outputs(tmp_path / "tuned.onnx", x)
    assert all(np.abs(after[k] - served[k]).max() < 1e-4 for k in served)
    assert np.abs(served["obj_8"] - shipped["obj_8"]).max() > 1e-3


def anchors(size=64):
    pts, st = priors(size, size)
    return pts, st, decode(torch.zeros(len(pts), 4), pts, st)  # each anchor's own box, a stride wide


@pytest.mark.parametrize("faces,taught", [
    ([], []),
    ([[10, 10, 30, 30]], [0]),  # one face
    ([[4, 4, 20, 20], [40, 36, 60, 60]], [0, 1]),  # two apart: each learns from anchors on itself
    # two nearly the same: an anchor learns one face only (the cheaper), and here every anchor
    # both chose goes to the first, as SimOTA resolves it
    ([[10, 10, 30, 30], [11, 11, 31, 31]], [0]),
])
def test_simota_assigns_anchors_on_each_face_only(faces, taught):
    pts, st, boxes = anchors()
    faces_t = torch.tensor(faces, dtype=torch.float32).reshape(-1, 4)
    match = detector_tune.assign(torch.full((len(pts),), 0.5), boxes, pts, st, faces_t)
    assert match.shape == (len(pts),)
    assert set(match.unique().tolist()) == {-1, *taught}
    for g in taught:
        x1, y1, x2, y2 = faces[g]
        on = pts[match == g]
        assert ((on[:, 0] > x1) & (on[:, 0] < x2) & (on[:, 1] > y1) & (on[:, 1] < y2)).all()


@pytest.mark.parametrize("teacher,moves", [(False, True), (True, False)])
def test_background_learns_nothing_new_from_its_own_teacher(teacher, moves):
    """With no face in view, objectness distilled from the network's own scores is already where the
    loss wants it (no gradient); taught as background it is pushed down."""
    pts, st = priors(64, 64)
    obj = torch.full((1, len(pts), 1), -1.0, requires_grad=True)
    out = {f"{kind}_{s}": torch.zeros(1, (64 // s) ** 2, width) for kind, width in (("cls", 1), ("bbox", 4))
           for s in (8, 16, 32)}
    sizes = np.cumsum([0, *((64 // s) ** 2 for s in (8, 16, 32))])
    out |= {f"obj_{s}": obj[:, sizes[i]:sizes[i + 1]] for i, s in enumerate((8, 16, 32))}
    view = detector_tune.View(np.zeros((3, 64, 64), np.float32), detector_tune.NO_BOXES, detector_tune.NO_BOXES)
    taught = torch.sigmoid(obj.detach()[..., 0]) if teacher else None
    detector_tune.loss(out, [view], pts, st, taught).backward()
    assert (obj.grad.abs().max() > 1e-3) == moves


@pytest.mark.parametrize("faces,ignore,learned,ignored", [
    ([[10, 10, 30, 30]], [], 1, 0),
    ([[-20, 10, 10, 40]], [], 0, 1),  # mostly outside the image: cut, so ignored
    ([[10, 10, 30, 30]], [[50, 50, 70, 70]], 1, 1),  # an unannotated box: ignored, never learned
])
def test_a_view_keeps_whole_faces_and_ignores_cut_or_unannotated_ones(faces, ignore, learned, ignored):
    image = np.full((100, 120, 3), 128, np.uint8)
    for seed in range(6):  # factors, jitter and flips differ; the bookkeeping does not
        v = detector_tune.view_of(image, np.asarray(faces, np.float32).reshape(-1, 4),
                                  np.asarray(ignore, np.float32).reshape(-1, 4), np.random.default_rng(seed))
        assert v.image.shape == (3, detector_tune.VIEW, detector_tune.VIEW)
        assert (len(v.faces), len(v.ignore)) == (learned, ignored)
        assert ((v.faces >= 0) & (v.faces <= detector_tune.VIEW)).all()
        assert (v.faces[:, 2:] > v.faces[:, :2]).all()


@pytest.mark.parametrize("widths,shrunk", [
    ((80, 120, 200), True),  # a web photo's faces: shrunk to a camera's
    ((6, 8, 9), False),  # already a camera's size: never enlarged
])
def test_a_camera_frame_has_a_cameras_faces_and_its_blur(widths, shrunk):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (480, 720, 3), dtype=np.uint8)  # noise: any blur or coding shows
    faces = np.asarray([[10 + 220 * i, 20, 10 + 220 * i + w, 20 + w] for i, w in enumerate(widths)], np.float32)
    ignore = np.asarray([[300, 300, 340, 340]], np.float32)
    frame, f, g = detector_tune.camera_frame(image, faces, ignore, rng)
    c = frame.shape[1] / image.shape[1]
    assert frame.shape[0] == pytest.approx(image.shape[0] * c, abs=1)
    np.testing.assert_allclose(f, faces * c, atol=1)  # c from a rounded width
    np.testing.assert_allclose(g, ignore * c, atol=1)
    if shrunk:
        lo, hi = detector_tune.CAMERA_FACE_PX
        assert lo - 1 <= np.median(f[:, 2] - f[:, 0]) <= hi + 1
    else:
        assert frame.shape == image.shape
    assert np.abs(frame.astype(float) - cv2.resize(image, frame.shape[1::-1], interpolation=cv2.INTER_AREA)).mean() > 5


def test_a_camera_view_is_a_wall_of_small_degraded_frames_with_their_faces():
    rng = np.random.default_rng(0)
    photos = [(np.full((400, 600, 3), 60 + 40 * i, np.uint8),
               np.asarray([[100, 100, 180, 180], [300, 120, 400, 220]], np.float32),
               np.asarray([[450, 50, 520, 120]], np.float32)) for i in range(3)]
    for _ in range(4):
        v = detector_tune.camera_view(photos, rng)
        assert v.image.shape == (3, detector_tune.VIEW, detector_tune.VIEW)
        assert (v.image.max(0) > 0).mean() > 0.6  # filled, not a small photo on black
        widths = v.faces[:, 2] - v.faces[:, 0]
        assert len(v.faces) >= 4 and np.median(widths) <= detector_tune.CAMERA_FACE_PX[1] * 1.25 + 1
        assert len(v.ignore)  # the boxes to ignore travel with their frames
        for boxes in (v.faces, v.ignore):
            assert ((boxes >= 0) & (boxes <= detector_tune.VIEW)).all() and (boxes[:, 2:] > boxes[:, :2]).all()


def test_a_fine_tuned_file_is_measured_against_the_shipped_one(scenes_dir, tmp_path, capsys):
    out = tmp_path / "tuned.onnx"
    assert detector_tune.main(["--scenes", str(scenes_dir), "--out", str(out), "--epochs", "1"]) == 0
    assert detlevers.main(["--scenes", str(scenes_dir), "--weights", str(out)]) == 0
    printed = capsys.readouterr().out
    shares = [line for line in printed.splitlines() if line.startswith("| ['")]
    ranked = [line.split(" | ")[:2] for line in printed.splitlines() if line.startswith(("| /", f"| {out}"))]
    assert [r.split(" | ")[0] for r in shares] == [f"| ['{DEFAULT_DETECTOR}']", f"| ['{out}']"]
    assert ranked == [[f"| {w}", str(n)] for w in (DEFAULT_DETECTOR, out) for n in detlevers.EQUAL_UNMATCHED]


@pytest.mark.parametrize("module,argv,message", [
    (detector_tune, ["--out", "x.onnx", "--fold", "2"], "--fold 2: expected 0..1"),
    (detector_tune, ["--out", "x.onnx", "--fold", "-1", "--folds", "4"], "--fold -1: expected 0..3"),
    (detlevers, ["--fold", "3", "--folds", "3"], "--fold 3: expected 0..2"),
])
def test_a_fold_outside_the_folds_is_refused(module, argv, message, scenes_dir, capsys):
    with pytest.raises(SystemExit) as e:
        module.main(["--scenes", str(scenes_dir), *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
