"""ONNX Runtime sessions on the device a config asks for (cpu, cuda, tensorrt): one place for
the detector and the classifier, so both fail the same way when a provider is missing."""
from __future__ import annotations

from maskwatch.errors import MaskwatchError

PROVIDERS = {"cpu": ["CPUExecutionProvider"],
             "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
             "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}


class DeviceError(MaskwatchError, ValueError):
    """The asked execution provider is not in this ONNX Runtime; the message says what is."""


def providers_for(device: str, available: list[str], what: str = "detector") -> list[str]:
    """The providers for a device, in order; DeviceError when its first one is missing here."""
    if device not in PROVIDERS:
        raise DeviceError(f"{what}.device {device!r}: expected one of {', '.join(PROVIDERS)}")
    wanted = PROVIDERS[device]
    if wanted[0] not in available:
        raise DeviceError(f"{what}.device {device}: ONNX Runtime here has no {wanted[0]} (it has "
                          f"{', '.join(available) or 'none'}); install onnxruntime-gpu on a GPU host, or set "
                          f"{what}.device: cpu")
    return [p for p in wanted if p in available]


def session(model: bytes, device: str, threads: int | None, what: str):
    """An InferenceSession for a serialized model on `device`; DeviceError before anything loads."""
    import onnxruntime as ort

    providers = providers_for(device, ort.get_available_providers(), what)
    if device != "cpu" and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()  # CUDA and cuDNN from the nvidia-* wheels: the GPU image has no system CUDA
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads or 0
    opts.inter_op_num_threads = 1
    # several worker processes share the cores: idle threads must sleep, not spin
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=providers)
