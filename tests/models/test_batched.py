"""The batched GPU path, run on the CPU: many frames (and tiles, and motion regions) in one YuNet
call, and the classifier on ONNX Runtime, give what the per-frame path gives."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.settings import ROOT

from maskwatch.config import ConfigError, parse_config
from maskwatch.models.build import DEFAULT_CLASSIFIER, DEFAULT_DETECTOR, build_pipeline
from maskwatch.models.calibration import Calibration
from maskwatch.models.classifier import MaskClassifier
from maskwatch.models.detector import FaceDetector
from maskwatch.models.evaluation.voc import load_scenes, scene_crops
from maskwatch.models.modelinfo import ModelError, ModelInfo
from maskwatch.models.providers import DeviceError


def _detector(batch_size: int, upscale=2.0, **kw) -> FaceDetector:
    return FaceDetector(DEFAULT_DETECTOR, score_threshold=0.3, upscale=upscale, backend="onnxruntime",
                        batch_size=batch_size, **kw)


@pytest.fixture(scope="module")
def scenes(scenes_dir):
    return [cv2.imread(str(sc.image)) for sc in load_scenes(scenes_dir)]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert len(x) == len(y)
        np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-3)
        np.testing.assert_allclose(x.scores, y.scores, atol=1e-5)


@pytest.mark.parametrize("tiles,upscale", [((1, 1), 2.0), ((2, 2), 2.0), ((1, 1), (1.0, 2.0, 3.0))])
def test_the_batched_detector_finds_what_the_per_frame_one_finds(scenes, tiles, upscale):
    # the bundled scenes have several sizes: each padded shape is one call, as a site's cameras are
    per_frame = [_detector(1, upscale, tiles=tiles).detect(img) for img in scenes]
    batched = _detector(8, upscale, tiles=tiles).detect_many(scenes)
    assert sum(len(d) for d in per_frame) > 40
    _same(per_frame, batched)


def test_one_call_mixes_whole_frames_regions_and_still_frames_and_keeps_their_order(scenes):
    imgs = [scenes[0], scenes[1], scenes[2], cv2.resize(scenes[3], (640, 360))]
    h, w = imgs[1].shape[:2]
    regions = [None, [(0, 0, w // 2, h)], [], None]
    batched = _detector(16).detect_many(imgs, regions)
    assert len(batched[2]) == 0
    _same([batched[0], batched[3]], [_detector(1).detect(imgs[0]), _detector(1).detect(imgs[3])])
    # a batched region grows over real pixels of its frame: it finds at least the faces inside it
    whole = _detector(1).detect(imgs[1])
    inside = whole.boxes[(whole.boxes[:, 2] < w // 2 - 8) & (whole.scores >= 0.6)]
    assert len(inside)
    for box in inside:
        assert np.abs(batched[1].boxes - box).max(axis=1).min() < 3


def test_the_pipeline_labels_the_same_faces_batched(scenes, pipeline):
    from maskwatch.config import load_config

    cfg = load_config(None)
    batched = build_pipeline(cfg.detector.model_copy(update={"batch_size": 8}),
                             cfg.classifier.model_copy(update={"backend": "onnxruntime"}))
    assert batched.detector.batch_size == 8
    a, b = pipeline.run(scenes), batched.run(scenes)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-3)
        # served p is calibrated: the isotonic map is steep just below p = 1 (a few sure faces per
        # knot), where it stretches the runtimes' 1e-5 differences tenfold or more; decisions do not move
        np.testing.assert_allclose(x.p_no_mask, y.p_no_mask, atol=1e-3)
        assert pipeline.labels(x) == batched.labels(y)


def test_the_onnx_classifier_equals_tflite_on_real_faces(scenes_dir):
    # the runtimes' own outputs: raw p (the calibration map after them is the same code for both,
    # and steep just below p = 1, where it would stretch their 1e-5 differences)
    info = dataclasses.replace(ModelInfo.load(DEFAULT_CLASSIFIER), calibration=Calibration())
    crops = scene_crops(scenes_dir, None, info.input_size, info.crop_margin)
    p_ref, e_ref = MaskClassifier(info, backend="tflite").predict(crops)
    ort = MaskClassifier(info, backend="onnxruntime", max_batch=16)
    p, e = ort.predict(crops)
    assert ort.backend == "onnxruntime" and len(crops) > 40
    np.testing.assert_allclose(p, p_ref, atol=1e-4)
    np.testing.assert_allclose(e, e_ref, atol=1e-4)


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda d: MaskClassifier.load(d, backend="onnxruntime", device="cuda"), DeviceError,
     "classifier.device cuda: ONNX Runtime here has no CUDAExecutionProvider"),
    (lambda d: MaskClassifier.load(d, backend="onnxruntime", device="tensorrt"), DeviceError,
     "classifier.device tensorrt: ONNX Runtime here has no TensorrtExecutionProvider"),
    (lambda d: MaskClassifier.load(d, backend="tflite", device="cuda"), DeviceError,
     "classifier.device cuda needs classifier.backend onnxruntime"),
    (lambda d: MaskClassifier.load(d, backend="onnxruntime", device="bogus"), DeviceError,
     "classifier.device 'bogus': expected one of cpu, cuda, tensorrt"),
])
def test_a_missing_classifier_provider_is_a_clear_error(make, error, message):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has a GPU provider")
    with pytest.raises(error, match=message):
        make(DEFAULT_CLASSIFIER)


def test_a_model_without_an_onnx_file_says_how_to_make_one(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_CLASSIFIER, model)
    meta = json.loads((model / "metadata.json").read_text())
    del meta["files"]["onnx"]
    (model / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"no ONNX file .* `python -m maskwatch.models.training.export_onnx "):
        MaskClassifier.load(model, backend="onnxruntime")


@pytest.mark.parametrize(("section", "message"), [
    ({"classifier": {"device": "cuda"}}, "classifier: Value error, device cuda needs backend: onnxruntime"),
    ({"classifier": {"backend": "onnxruntime", "device": "gpu"}}, "classifier.device: Input should be"),
    ({"detector": {"batch_size": 0}}, "detector.batch_size: Input should be greater than or equal to 1"),
])
def test_the_config_refuses_a_device_it_cannot_honour(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(section, "site.yaml")


def test_the_shipped_onnx_export_is_rebuilt_and_checked(tmp_path, scenes_dir):
    pytest.importorskip("tf2onnx")
    model = tmp_path / "model"
    shutil.copytree(DEFAULT_CLASSIFIER, model)
    (model / "mask_classifier.onnx").unlink()
    r = subprocess.run([sys.executable, "-m", "maskwatch.models.training.export_onnx", str(model),
                        "--scenes", str(scenes_dir)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    check = json.loads(r.stdout[r.stdout.index("{"):])
    assert check["crops"] > 40 and check["max_abs_diff_vs_tflite"] < 1e-4
    assert ModelInfo.load(model).onnx_file == "mask_classifier.onnx"
    MaskClassifier.load(model, backend="onnxruntime").predict(np.zeros((2, 128, 128, 3), np.uint8))


def _uninstalled_python(tmp_path) -> str:
    """This interpreter with its packages but without the project's install (no .pth is read): a
    checkout on a lent GPU machine, where nothing was pip-installed."""
    wrapper = tmp_path / "python-bare"
    purelib = sysconfig.get_paths()["purelib"]
    path = f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{purelib}"'
    wrapper.write_text(f'#!/bin/sh\n{path} exec {sys.executable} -S "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.mark.parametrize("installed", [True, False], ids=["installed", "checkout-only"])
def test_the_gpu_bench_runs_on_the_cpu_and_writes_every_number(tmp_path, installed):
    script = ROOT / "deploy" / "gpu-bench.sh"
    python = sys.executable if installed else _uninstalled_python(tmp_path)
    r = subprocess.run(["sh", str(script), "--device", "cpu", "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHON=python))
    assert r.returncode == 0, r.stderr[-2000:]
    (path,) = tmp_path.glob("gpubench-cpu-*.json")
    report = json.loads(path.read_text())
    assert [row["batch"] for row in report["detect"]] == [1, 2]
    assert all(row["frames_per_s"] > 0 and row["faces_per_frame"] > 0 for row in report["detect"])
    assert all(row["faces_per_s"] > 0 for row in report["classify"])
    assert report["machine"]["cores"] >= 1 and "frames/s of 720p" in r.stdout
