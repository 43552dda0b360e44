"""Cameras page, /api/cameras, live frames, /metrics and /healthz from real Redis status hashes."""
from __future__ import annotations

import secrets
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.dashboard import (
    T0,
    add_violations,
    dashboard_config,
    drop_prefix,
    live_blob,
    login,
    make_users,
    make_violation,
    open_bus,
)
from support.databases import sqlite_database

from maskwatch.bus import RedisBus
from maskwatch.config import ConfigError
from maskwatch.dashboard.app import create_app
from maskwatch.membus import MemoryBus
from maskwatch.storage.db import make_engine
from maskwatch.storage.tables import ReviewStatus
from maskwatch.wire import live as wire_live

LIVE = live_blob("cam-a", (9, 9, 9))


def _publish(bus, now: float) -> None:
    """What ingest, two workers and events would have written."""
    _publish_status(bus, now)
    k = bus.keys
    for i in range(3):
        bus.add(k.frames("cam-a"), {"i": i})
    bus.ensure_group(k.frames("cam-a"), "workers", "0")
    bus.read_group("workers", "w1", [k.frames("cam-a")], count=2, block_ms=None)
    for i in range(4):
        bus.add(k.detections(), {"i": i})
    bus.ensure_group(k.detections(), "events", "0")
    bus.read_group("events", "e1", [k.detections()], count=1, block_ms=None)


def _publish_status(bus, now: float) -> None:
    """The status hashes and the live blob, as of `now` (again before a test that reads ages)."""
    k = bus.keys
    bus.put_hash(k.camera_status("cam-a"), {
        "state": "online", "name": "Camera A", "url": "rtsp://***@10.0.0.1/s", "fps_read": 12.5, "fps_sent": 5.0,
        "fps_cap": 5, "frames_read": 1000, "frames_sent": 400, "last_frame_at": now - 1, "reconnects": 2,
        "last_error": "", "next_retry_at": 0, "width": 1280, "height": 720, "updated_at": now})
    bus.put_hash(k.camera_status("cam-b"), {
        "state": "offline", "name": "Camera B", "fps_read": 3,
        # an older ingest's raw URL: userinfo and query values of any name are secrets (vendors' own names)
        "url": "rtsp://admin:hunter2@10.0.0.2/s?access_token=hunter2&api_key=hunter2&psw=hunter2&loginpas=hunter2",
        "frames_read": 50, "frames_sent": 20, "last_frame_at": now - 300, "reconnects": 7,
        "last_error": "cannot open rtsp://admin:hunter2@10.0.0.2/s", "next_retry_at": now + 5, "updated_at": now})
    for name, (pa, pb, da) in {"w1": (150, 10, 3), "w2": (100, 0, 1)}.items():
        bus.put_hash(k.worker_status(name), {
            "state": "running", "updated_at": now, "model_version": "m-7", "backend": "tflite",
            "detector_backend": "onnxruntime",
            "processed": pa + pb, "processed:cam-a": pa, "processed:cam-b": pb, "dropped_stale": da,
            "dropped:cam-a": da, "faces": 30, "batches": 20, "bad_frames": 1, "frame_ts:cam-a": now - 0.4 - da,
            "decode_ms": 2.0, "detect_ms": 20.5, "classify_ms": 4.25, "latency_ms": 80.0})
    bus.put_hash(k.events_status(), {"processed": 240, "violations": 3, "bad_entries": 0, "pending": 1,
                                   "lag_s": 0.75, "db_ok": 1, "updated_at": now})
    bus.put_blob(k.live("cam-a"), LIVE)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ops")
    url = sqlite_database(tmp)
    prefix = f"mwtest-{secrets.token_hex(4)}"
    bus = open_bus(prefix)
    _publish(bus, time.time())
    cfg = dashboard_config(url, tmp / "snaps", redis_url=bus.url, prefix=prefix)
    app = create_app(cfg, bus=bus)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    sessions = app.extensions["maskwatch"].sessions
    users = make_users(sessions)
    add_violations(sessions, [make_violation(1, "cam-a", T0), make_violation(2, "cam-a", T0),
                              make_violation(3, "cam-b", T0, status=ReviewStatus.confirmed)])
    yield app, users, cfg, bus
    drop_prefix(bus, prefix)
    bus.close()


@pytest.fixture
def client(env):
    c = env[0].test_client()
    login(c, env[1]["viewer"])
    return c


def test_api_cameras(client):
    body = client.get("/api/cameras").get_json()
    assert body["available"] is True
    a, b = body["cameras"]
    assert (a["id"], a["online"], a["state"], a["fps_read"]) == ("cam-a", True, "online", 12.5)
    assert (a["frames_read"], a["frames_processed"], a["frames_dropped"]) == (1000, 250, 4)
    assert (a["stream_length"], a["pending"]) == (3, 2)
    assert a["fps_processed"] == pytest.approx(5.0 * 250 / 400, abs=0.01)
    assert (b["online"], b["state"], b["fps_read"], b["reconnects"]) == (False, "offline", 0.0, 7)
    assert "hunter2" not in str(body) and "***" in b["url"] and "***" in b["last_error"]
    assert [w["name"] for w in body["workers"]] == ["w1", "w2"]
    assert body["workers"][0]["stage_ms"] == {"decode": 2.0, "detect": 20.5, "classify": 4.25, "latency": 80.0}
    assert body["events"]["lag_s"] == 0.75 and body["detections_pending"] == 1 and body["detections_length"] == 4


def test_cameras_page_and_live_frame(client):
    html = client.get("/cameras").get_data(as_text=True)
    for text in ("Camera A", "Camera B", "w1", "w2", "m-7", "onnxruntime + tflite",
                 "cannot open rtsp://***@10.0.0.2/s", "0.8 s"):
        assert text in html, text
    assert "hunter2" not in html
    live = client.get("/cameras/cam-a/live.jpg")
    assert live.data == wire_live.decode(LIVE).jpeg and live.headers["Cache-Control"] == "no-store"
    assert client.get("/cameras/cam-b/live.jpg").status_code == 404
    meta = client.get("/cameras/cam-a/live.json").get_json()
    assert (meta["width"], meta["height"]) == (320, 180) and meta["image"].startswith("data:image/jpeg;base64,")
    assert [(f["kind"], f["label"]) for f in meta["faces"]] == [("violation", "no mask 0.99"), ("mask", "mask 0.97")]


def test_each_camera_says_its_lag_and_what_is_wrong(env, client):
    _publish_status(env[3], time.time())  # ages are read against now: the module's earlier tests took time
    cams = {c["id"]: c for c in client.get("/api/cameras").get_json()["cameras"]}
    # the newest frame any worker finished (w2's, 0.4 + 1 s old) is the camera's lag
    assert cams["cam-a"]["lag_s"] == pytest.approx(1.4, abs=0.3) and cams["cam-a"]["problem"] == ""
    assert cams["cam-b"]["lag_s"] is None
    assert cams["cam-b"]["problem"] == "offline: cannot open rtsp://***@10.0.0.2/s"
    html = client.get("/wall").get_data(as_text=True)
    assert html.count('class="tile') == 2 and "offline: cannot open rtsp://***@10.0.0.2/s" in html


def test_stale_status_is_not_online(env, client):
    bus = env[3]
    bus.put_hash(bus.keys.camera_status("cam-a"), {"updated_at": time.time() - 3600})
    try:
        a = client.get("/api/cameras").get_json()["cameras"][0]
        assert (a["online"], a["state"], a["fps_read"]) == (False, "stale", 0.0)
    finally:
        bus.put_hash(bus.keys.camera_status("cam-a"), {"updated_at": time.time()})


def _metrics(client) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").get_data(as_text=True)
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics(env):
    _publish_status(env[3], time.time())
    m = _metrics(env[0].test_client())  # no login: Prometheus scrapes anonymously
    cam = (("camera", "cam-a"),)
    assert m[("maskwatch_camera_frames_read_total", cam)] == 1000
    assert m[("maskwatch_camera_frames_processed_total", cam)] == 250
    assert m[("maskwatch_camera_frames_dropped_total", cam)] == 4
    assert m[("maskwatch_camera_online", cam)] == 1 and m[("maskwatch_camera_online", (("camera", "cam-b"),))] == 0
    assert m[("maskwatch_stream_frames_length", cam)] == 3 and m[("maskwatch_stream_frames_pending", cam)] == 2
    assert m[("maskwatch_stream_detections_pending", ())] == 1 and m[("maskwatch_stream_detections_length", ())] == 4
    assert m[("maskwatch_worker_stage_ms", (("stage", "detect"), ("worker", "w1")))] == 20.5
    assert m[("maskwatch_events_lag_seconds", ())] == 0.75
    assert m[("maskwatch_camera_lag_seconds", cam)] == pytest.approx(1.4, abs=0.3)
    assert ("maskwatch_camera_lag_seconds", (("camera", "cam-b"),)) not in m  # no frame of it finished
    assert m[("maskwatch_violations_stored", (("review_status", "pending"),))] == 2
    assert m[("maskwatch_violations_stored", (("review_status", "confirmed"),))] == 1
    assert m[("maskwatch_bus_up", ())] == 1 and m[("maskwatch_db_up", ())] == 1


def test_registries_are_per_app(env):
    other = create_app(env[2], bus=MemoryBus("other"))
    assert other.extensions["maskwatch"].registry is not env[0].extensions["maskwatch"].registry
    m = _metrics(other.test_client())
    assert m[("maskwatch_camera_frames_read_total", (("camera", "cam-a"),))] == 0


def test_healthz(env):
    resp = env[0].test_client().get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {
        "db": "ok", "redis": "ok", "events": {"state": "ok", "lag_s": 0.75, "problem": ""}}


def test_broken_bus_degrades_but_answers(env):
    _, users, cfg, _ = env
    broken = create_app(cfg, bus=RedisBus("redis://127.0.0.1:1/0", "nowhere", socket_timeout=1))
    client = broken.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json() == {"db": "ok", "redis": "error",
                                                               "events": {"state": "unknown"}}
    m = _metrics(client)
    assert m[("maskwatch_bus_up", ())] == 0 and m[("maskwatch_db_up", ())] == 1
    login(client, users["viewer"])
    assert "status unavailable" in client.get("/cameras").get_data(as_text=True)
    assert client.get("/api/cameras").get_json()["available"] is False
    assert client.get("/cameras/cam-a/live.jpg").status_code == 503


def test_broken_database_is_503(env, tmp_path):
    _, _, cfg, bus = env
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    client = create_app(cfg, bus=bus, engine=engine).test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["db"] == "error"
    assert _metrics(client)[("maskwatch_db_up", ())] == 0


def test_an_events_problem_shows_on_healthz_and_metrics_but_does_not_fail_the_probe(env):
    app, _, _, bus = env
    bus.put_hash(bus.keys.events_status(), {"processed": 1, "lag_s": 42.0, "db_ok": 1, "updated_at": time.time(),
                                            "problem": "snapshot store failing"})
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["events"] == {"state": "degraded", "lag_s": 42.0, "problem": "snapshot store failing"}
    m = _metrics(client)
    assert m[("maskwatch_events_ok", ())] == 0 and m[("maskwatch_events_lag_seconds", ())] == 42.0


def test_memory_bus_workers_are_found(tmp_path):
    bus = MemoryBus("mem")
    bus.put_hash(bus.keys.worker_status("solo"), {"state": "running", "processed": 5, "processed:cam-a": 5})
    cfg = dashboard_config(sqlite_database(tmp_path), tmp_path / "s")
    from maskwatch.dashboard.status import read_status

    st = read_status(cfg, bus)
    assert [w.name for w in st.workers] == ["solo"] and st.cameras[0].frames_processed == 5


TOKEN = "scrape-token-0123456789"


@pytest.mark.parametrize("header, status", [
    (None, 401), ("", 401), ("Bearer wrong-token-0123456789", 401), (f"Basic {TOKEN}", 401), (f"Bearer {TOKEN}x", 401),
    (f"Bearer {TOKEN}", 200), (f"bearer {TOKEN}", 200),
])
def test_metrics_behind_a_token_answer_only_that_token(tmp_path, header, status):
    cfg = dashboard_config(sqlite_database(tmp_path), tmp_path / "snaps", metrics_token=TOKEN)
    client = create_app(cfg, bus=MemoryBus("metrics")).test_client()
    resp = client.get("/metrics", headers={"Authorization": header} if header is not None else {})
    assert resp.status_code == status
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer") and b"maskwatch_" not in resp.data
    else:
        assert b"maskwatch_camera_online" in resp.data and resp.headers["Cache-Control"] == "no-store"


def test_a_short_metrics_token_is_refused_by_the_config(tmp_path):
    with pytest.raises(ConfigError, match="dashboard.metrics_token: String should have at least 16 characters"):
        dashboard_config(sqlite_database(tmp_path), tmp_path / "snaps", metrics_token="short")


def test_the_snapshot_disk_and_what_retention_deleted_are_shown(env, client, tmp_path):
    """Two retention runs reported through the bus (their totals add up); the disk measured now."""
    import shutil

    from maskwatch.storage.prune import Pruned
    from maskwatch.storage.retention import report_retention

    bus = env[3]
    assert "has not run yet" in client.get("/cameras").get_data(as_text=True)
    report_retention(bus, Pruned(time.time() - 700, 12, 0, 5 * 2 ** 20))
    report_retention(bus, Pruned(time.time() - 100, 3, 2, 4 * 2 ** 20))
    (env[2].snapshots.dir).mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(env[2].snapshots.dir).free
    html = client.get("/cameras").get_data(as_text=True)
    assert "Snapshot storage" in html and "3 last run, 15 in all" in html and "2 last run, 2 in all" in html
    assert "4.0 MB" in html
    m = _metrics(env[0].test_client())
    assert m[("maskwatch_retention_pruned_total", (("reason", "age"),))] == 15
    assert m[("maskwatch_retention_pruned_total", (("reason", "space"),))] == 2
    assert m[("maskwatch_snapshot_bytes", ())] == 4 * 2 ** 20
    assert m[("maskwatch_snapshot_disk_free_bytes", ())] == pytest.approx(free, rel=0.01)
