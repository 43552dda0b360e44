"""Where a benchmark ran, in its own words: the CPU's model and vector extensions, cores, memory.

Speed numbers mean nothing without them: machines of one kind differ 2-4x (AVX-512 or only AVX2).
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "amx_tile")


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return None


def machine() -> dict:
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    has = [f for f in VECTOR_FLAGS if f in flags]
    return {"cpu": info.get("model name") or platform.processor() or platform.machine(), "cores": cores,
            "vector": "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "neither AVX2 nor AVX-512",
            "flags": has, "memory_gib": _mem_gib(), "python": platform.python_version()}


def describe(m: dict) -> str:
    return f"{m['cpu']}, {m['cores']} cores, {m['vector']}"
