"""ONNX Runtime sessions on the device a config asks for (cpu, cuda, tensorrt): one place for
the detector and the classifier, so both fail the same way when a provider is missing.

A GPU run must not be CPU numbers in disguise: onnxruntime-gpu lists CUDA and TensorRT among its
available providers even where their libraries cannot load, and a session then quietly runs on the
CPU (onnxruntime #17801, #23647). So the session's own providers are checked after it is made, and
a fall-back is a DeviceError. On the GPU, cuDNN picks its algorithms by heuristic rather than by
benchmarking every new shape, and TensorRT builds its engines for the input shapes' profile once,
keeping them and its timing cache on disk (maskwatch.paths.engine_cache_dir). On a GPU a call goes
through I/O binding (`Bound`): the uint8 input is copied to the device once and the outputs are
written where ONNX Runtime allocated them on the device, then copied back in one step, instead of
`run`'s per-call allocations and copies on both sides.
"""
from __future__ import annotations

from maskwatch.errors import MaskwatchError

PROVIDERS = {"cpu": ["CPUExecutionProvider"],
             "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
             "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}

# a profile: input name -> (min, opt, max) shapes, each a tuple of ints
Profile = dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]


class DeviceError(MaskwatchError, ValueError):
    """The asked execution provider is not in this ONNX Runtime, or did not load; the message says
    what is there."""


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


def check_running(device: str, running: list[str], what: str = "detector") -> str:
    """The provider a session really runs on (its first); DeviceError when it is not the one the
    device asks for, which is how a GPU library that failed to load shows."""
    wanted = PROVIDERS[device][0]
    got = running[0] if running else "none"
    if got != wanted:
        raise DeviceError(f"{what}.device {device}: ONNX Runtime fell back to {got} ({wanted} is installed but did "
                          f"not load: check the CUDA, cuDNN and TensorRT libraries, e.g. with "
                          f"onnxruntime-gpu[cuda,cudnn]); refusing to run {what} on the CPU as if on {device}")
    return got


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in shape)


def provider_options(device: str, profile: Profile | None = None, cache_dir=None) -> list[dict]:
    """Options per provider of `device`, in PROVIDERS' order (the CPU's are empty)."""
    cuda = {"cudnn_conv_algo_search": "HEURISTIC"}
    if device == "cpu":
        return [{}]
    if device == "cuda":
        return [cuda, {}]
    trt = {"trt_fp16_enable": "True", "trt_engine_cache_enable": "True", "trt_timing_cache_enable": "True"}
    if cache_dir is not None:
        trt.update(trt_engine_cache_path=str(cache_dir), trt_timing_cache_path=str(cache_dir))
    if profile:
        # TensorRT's parser splits these on ':' and ',': input names must have neither
        for i, key in enumerate(("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")):
            trt[key] = ",".join(f"{name}:{_shape(shapes[i])}" for name, shapes in profile.items())
    return [trt, cuda, {}]


def session(model: bytes, device: str, threads: int | None, what: str, profile: Profile | None = None):
    """An InferenceSession for a serialized model on `device`; DeviceError before anything loads
    when the provider is absent, and after, when it fell back to another."""
    import onnxruntime as ort

    providers = providers_for(device, ort.get_available_providers(), what)
    options = None
    if device != "cpu":
        from maskwatch.paths import engine_cache_dir

        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # CUDA and cuDNN from the nvidia-* wheels: the GPU image has no system CUDA
        cache = engine_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        by_name = dict(zip(PROVIDERS[device], provider_options(device, profile, cache)))
        options = [by_name[p] for p in providers]
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads or 0
    opts.inter_op_num_threads = 1
    # several worker processes share the cores: idle threads must sleep, not spin
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(model, opts, providers=providers, provider_options=options)
    check_running(device, sess.get_providers(), what)
    return sess


class Bound:
    """One session's calls: `run` on the CPU; on a GPU through an I/O binding, inputs bound from
    host memory and outputs left for ONNX Runtime to allocate on `bind_to` ("cuda"), then copied
    back. `bind_to="cpu"` binds on the CPU: the same path, testable without a GPU."""

    def __init__(self, sess, outputs: list[str], bind_to: str | None = None):
        self.sess, self.outputs, self.bind_to = sess, outputs, bind_to

    def __call__(self, inputs: dict) -> list:
        if self.bind_to is None:
            return self.sess.run(self.outputs, inputs)
        io = self.sess.io_binding()
        for name, value in inputs.items():
            io.bind_cpu_input(name, value)
        for name in self.outputs:
            io.bind_output(name, self.bind_to)
        self.sess.run_with_iobinding(io)
        return io.copy_outputs_to_cpu()


def bind_to(device: str) -> str | None:
    """Where a device's outputs are bound: on the GPU for cuda and tensorrt, nowhere (plain run) on the CPU."""
    return None if device == "cpu" else "cuda"
