"""Measure a GPU host (or any host): detection frames/s and classification faces/s by batch size,
and GPU memory, through the same batched code path the workers run.

    python -m maskwatch.models.evaluation.gpubench --device cuda            # deploy/gpu-bench.sh runs this
    python -m maskwatch.models.evaluation.gpubench --device cpu --quick     # the tests; no GPU needed

Needs numpy, OpenCV, onnx and ONNX Runtime only (no TensorFlow, Redis or config file), so a bare
GPU machine with a checkout runs it. Detection runs on 720p frames made from the bundled scenes,
at native scale, as the default config runs 720p (upscale is capped by max_side 1280). Every number
goes to a JSON file.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from maskwatch.models import WEIGHTS_DIR
from maskwatch.models.detector import FaceDetector
from maskwatch.models.modelinfo import ModelInfo
from maskwatch.models.onnxclassifier import OrtRunner
from maskwatch.paths import demo_scenes

DETECT_BATCHES = (1, 4, 8, 16, 32)
CLASSIFY_BATCHES = (1, 16, 64, 256)


def gpu_memory() -> dict | None:
    """nvidia-smi's reading of the first GPU (name, MiB used and total), or None without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.used,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode or not out.stdout.strip():
        return None
    name, used, total = (x.strip() for x in out.stdout.splitlines()[0].split(","))
    return {"name": name, "used_mib": int(float(used)), "total_mib": int(float(total))}


def frames_720p(n: int) -> list[np.ndarray]:
    """n different 1280x720 frames from the bundled scenes (a grid of two scenes each)."""
    images = [cv2.imread(str(p)) for p in sorted((demo_scenes() / "images").glob("*.jpg"))]
    return [np.hstack([cv2.resize(images[i % len(images)], (640, 720)),
                       cv2.resize(images[(i + 1) % len(images)], (640, 720))]) for i in range(n)]


def _rate(work, items: int, seconds: float) -> tuple[float, float]:
    """items/s of `work` (warmed up first, then repeated for about `seconds`) and ms per call."""
    work()
    work()  # the first calls build kernels (and TensorRT engines)
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        work()
        calls += 1
    dt = time.perf_counter() - t0
    return items * calls / dt, dt / calls * 1000


def measure(device: str, detect_batches, classify_batches, seconds: float, threads: int | None = None) -> dict:
    report = {"device": device, "gpu": gpu_memory(), "detect": [], "classify": []}
    frames = frames_720p(max(detect_batches))
    for b in detect_batches:
        det = FaceDetector(WEIGHTS_DIR / "yunet_n_640_640.onnx", score_threshold=0.3, upscale=1.0,
                           max_side=1280, backend="onnxruntime", device=device, batch_size=b, threads=threads)
        fps, ms = _rate(lambda det=det, b=b: det.detect_many(frames[:b]), b, seconds)
        faces = sum(len(d) for d in det.detect_many(frames[:b]))
        report["detect"].append({"batch": b, "frames_per_s": round(fps, 1), "ms_per_call": round(ms, 2),
                                 "faces_per_frame": round(faces / b, 1), "gpu": gpu_memory()})
    info = ModelInfo.load(WEIGHTS_DIR / "classifier")
    runner = OrtRunner(info.dir / info.onnx_file, device, threads)
    size = info.input_size
    crops = np.random.default_rng(0).integers(0, 256, (max(classify_batches), size, size, 3)).astype(np.float32)
    for b in classify_batches:
        fps, ms = _rate(lambda b=b: runner(crops[:b]), b, seconds)
        report["classify"].append({"batch": b, "faces_per_s": round(fps, 1), "ms_per_call": round(ms, 2),
                                   "gpu": gpu_memory()})
    return report


def table(report: dict) -> str:
    lines = [f"device {report['device']}" + (f" ({report['gpu']['name']})" if report.get("gpu") else "")]
    for row in report["detect"]:
        mem = f", GPU memory {row['gpu']['used_mib']} MiB" if row.get("gpu") else ""
        lines.append(f"  detect   batch {row['batch']:>3}: {row['frames_per_s']:>8.1f} frames/s of 720p "
                     f"({row['ms_per_call']} ms a call{mem})")
    for row in report["classify"]:
        mem = f", GPU memory {row['gpu']['used_mib']} MiB" if row.get("gpu") else ""
        lines.append(f"  classify batch {row['batch']:>3}: {row['faces_per_s']:>8.1f} faces/s "
                     f"({row['ms_per_call']} ms a call{mem})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda", "tensorrt"), default="cuda")
    p.add_argument("--seconds", type=float, default=3.0, help="time per measured point")
    p.add_argument("--quick", action="store_true", help="batches 1 and 2, a fraction of a second each")
    p.add_argument("--threads", type=int, help="CPU threads (device cpu)")
    p.add_argument("--out", type=Path, default=Path("out/bench"), help="folder for the JSON report")
    args = p.parse_args(argv)
    from maskwatch.host import machine

    dets, clss, secs = ((1, 2), (1, 16), 0.2) if args.quick else (DETECT_BATCHES, CLASSIFY_BATCHES, args.seconds)
    report = dict(measure(args.device, dets, clss, secs, args.threads), machine=machine())
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"gpubench-{args.device}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
