"""A worker whose models take long to load (a TensorRT engine build, minutes the first time on a
GPU) says "loading" meanwhile, fresh every few seconds, then "running"."""
import threading
import time

from maskwatch import builders
from maskwatch.config import parse_config
from maskwatch.status import WorkerStatusRecord
from maskwatch.workers import loading


def test_a_worker_says_loading_until_it_runs(redis_bus, pipeline, monkeypatch):
    release = threading.Event()

    def slow_build(cfg):
        release.wait(20)
        return pipeline

    monkeypatch.setattr(builders, "build_worker_pipeline", slow_build)
    monkeypatch.setattr(loading, "EVERY_S", 0.2)
    cfg = parse_config({"redis": {"url": redis_bus.url, "prefix": redis_bus.keys.prefix}}, env={})
    stop, made = threading.Event(), {}
    builder = threading.Thread(target=lambda: made.update(w=builders.build_worker(cfg, redis_bus, stop, "w-slow")))
    builder.start()
    key = redis_bus.keys.worker_status("w-slow")
    seen = []
    for _ in range(10):
        time.sleep(0.1)
        seen.append(WorkerStatusRecord.from_hash(redis_bus.get_hash(key)))
    assert {s.state for s in seen} == {"loading"} and time.time() - seen[-1].updated_at < 0.5
    release.set()
    builder.join(10)
    runner = threading.Thread(target=made["w"].run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while WorkerStatusRecord.from_hash(redis_bus.get_hash(key)).state != "running":
            assert time.monotonic() < deadline, "the worker never said running"
            time.sleep(0.1)
    finally:
        stop.set()
        runner.join(10)
