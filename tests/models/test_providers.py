"""The GPU path's parts that can be checked without a GPU: a session that fell back to the CPU is
refused, the options each provider gets (cuDNN by heuristic, TensorRT's profile and caches), the
classifier's input renamed for TensorRT, its batches padded to a few shapes, calls through I/O binding."""
from __future__ import annotations

import numpy as np
import pytest

from maskwatch.models.modelinfo import BUCKETS, ModelInfo, pad_batch
from maskwatch.models.providers import Bound, DeviceError, bind_to, check_running, provider_options, session
from maskwatch.paths import weights_dir

CLASSIFIER_ONNX = weights_dir() / "classifier" / "mask_classifier.onnx"
SIZE = ModelInfo.load(CLASSIFIER_ONNX.parent).input_size
CUDA, TRT, CPU = "CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"


@pytest.mark.parametrize("device, running, error", [
    ("cpu", [CPU], None),
    ("cuda", [CUDA, CPU], None),
    ("tensorrt", [TRT, CUDA, CPU], None),
    ("cuda", [CPU], "fell back to CPUExecutionProvider"),         # libcudnn missing: the silent fall-back
    ("tensorrt", [CUDA, CPU], "fell back to CUDAExecutionProvider"),  # libnvinfer missing
    ("tensorrt", [], "fell back to none"),
])
def test_a_session_on_another_provider_than_asked_is_refused(device, running, error):
    if error is None:
        assert check_running(device, running) == running[0]
        return
    with pytest.raises(DeviceError, match=error):
        check_running(device, running, "classifier")


def test_a_real_session_that_runs_on_the_cpu_is_not_a_gpu_session():
    sess = session(CLASSIFIER_ONNX.read_bytes(), "cpu", 1, "classifier")
    assert check_running("cpu", sess.get_providers()) == CPU
    with pytest.raises(DeviceError, match="refusing to run classifier on the CPU as if on cuda"):
        check_running("cuda", sess.get_providers(), "classifier")


def test_each_gpu_provider_gets_its_options(tmp_path):
    assert provider_options("cpu") == [{}]
    assert provider_options("cuda") == [{"cudnn_conv_algo_search": "HEURISTIC"}, {}]
    profile = {"crop_rgb": ((1, 224, 224, 3), (8, 224, 224, 3), (32, 224, 224, 3))}
    trt, cuda, cpu = provider_options("tensorrt", profile, tmp_path)
    assert trt["trt_profile_min_shapes"] == "crop_rgb:1x224x224x3"
    assert trt["trt_profile_opt_shapes"] == "crop_rgb:8x224x224x3"
    assert trt["trt_profile_max_shapes"] == "crop_rgb:32x224x224x3"
    assert trt["trt_engine_cache_path"] == trt["trt_timing_cache_path"] == str(tmp_path)
    assert trt["trt_engine_cache_enable"] == "True" and cuda["cudnn_conv_algo_search"] == "HEURISTIC" and cpu == {}


def test_the_classifier_input_has_a_name_a_tensorrt_profile_can_hold():
    from maskwatch.models.onnxclassifier import OrtRunner, plain_input

    raw = CLASSIFIER_ONNX.read_bytes()
    model, name = plain_input(raw)
    assert ":" not in name and "," not in name
    assert plain_input(model) == (model, name)  # renaming twice changes nothing
    runner = OrtRunner(CLASSIFIER_ONNX, size=SIZE)
    assert runner._sess.get_inputs()[0].name == name


@pytest.mark.parametrize("n, padded", [(1, 1), (3, 4), (5, 8), (32, 32), (33, 64), (300, 300)])
def test_batches_are_padded_to_a_few_sizes(n, padded):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2) + 1
    got = pad_batch(x)
    assert len(got) == padded and (padded == n or padded in BUCKETS)
    assert np.array_equal(got[:n], x) and not got[n:].any()


def test_padding_does_not_change_a_face_s_result():
    from maskwatch.models.onnxclassifier import OrtRunner

    runner = OrtRunner(CLASSIFIER_ONNX, size=SIZE)
    x = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3)).astype(np.float32)
    p, emb = runner(x)
    p_pad, emb_pad = runner(pad_batch(x))
    assert np.allclose(p, p_pad[:3], atol=1e-5) and np.allclose(emb, emb_pad[:3], atol=1e-4)


@pytest.mark.parametrize("device, bound", [("cpu", None), ("cuda", "cuda"), ("tensorrt", "cuda")])
def test_a_gpu_session_is_called_through_io_binding(device, bound):
    assert bind_to(device) == bound


def test_io_binding_gives_what_a_plain_run_gives():
    """The bound path, bound on the CPU (the same calls a GPU makes, to another device): both
    stages' outputs as a plain run's, the detector fed its uint8 blob as it is."""
    from maskwatch.models.onnxclassifier import OrtRunner
    from maskwatch.models.yunet import OrtYuNet

    runner = OrtRunner(CLASSIFIER_ONNX, size=SIZE)
    x = np.random.default_rng(1).integers(0, 256, (4, SIZE, SIZE, 3)).astype(np.float32)
    plain = runner(x)
    runner._run = Bound(runner._sess, runner._run.outputs, "cpu")
    for a, b in zip(plain, runner(x)):
        assert np.array_equal(a, b)
    det = OrtYuNet(weights_dir() / "yunet_n_640_640.onnx", 0.5, 0.3, 50, 1)
    blob = np.random.default_rng(2).integers(0, 256, (2, 3, 96, 128)).astype(np.uint8)
    outputs = det._run.outputs
    plain = Bound(det._sess, outputs)({det._input: blob})
    for a, b in zip(plain, Bound(det._sess, outputs, "cpu")({det._input: blob})):
        assert a.dtype == b.dtype and np.array_equal(a, b)
