"""Cameras at runtime: the published list (maskwatch.camera_set) over the real Redis, its diff, and
a camera a host cannot use left out with the others kept."""
import pytest

from maskwatch import camera_set
from maskwatch.camera_set import CameraWatch, diff
from maskwatch.config import parse_camera, parse_config

ENV = {"CAM_PASSWORD": "s3cret-pw"}
GATE = {"id": "gate", "url": "rtsp://viewer:${CAM_PASSWORD}@127.0.0.1:8554/gate", "fps": 5}
YARD = {"id": "yard", "url": "rtsp://127.0.0.1:8554/yard"}


def _cams(*specs):
    return [parse_camera(s, ENV) for s in specs]


@pytest.mark.parametrize("before, after, added, removed, changed", [
    ([GATE], [GATE], [], [], []),
    ([GATE], [GATE, YARD], ["yard"], [], []),
    ([GATE, YARD], [YARD], [], ["gate"], []),
    ([GATE, YARD], [{**GATE, "fps": 2}, YARD], [], [], ["gate"]),
    ([GATE], [{**GATE, "enabled": False}], [], [], ["gate"]),
])
def test_the_diff_names_only_the_cameras_that_changed(before, after, added, removed, changed):
    d = diff(_cams(*before), _cams(*after))
    assert ([c.id for c in d.added], [c.id for c in d.removed], [a.id for _, a in d.changed]) == \
        (added, removed, changed)
    assert bool(d) == bool(added or removed or changed)


def test_a_service_follows_the_published_list(redis_bus, caplog):
    cfg = parse_config({"cameras": [GATE]}, env=ENV)
    watch = CameraWatch(cfg, redis_bus, env=ENV, every_s=0)  # every call looks
    assert watch.poll() is None and [c.id for c in watch.cameras] == ["gate"]  # nothing published: the file's
    camera_set.publish(redis_bus, 3, [GATE, YARD])
    change = watch.poll()
    assert [c.id for c in change.added] == ["yard"] and watch.version == 3
    assert watch.cameras[0].url.endswith("viewer:s3cret-pw@127.0.0.1:8554/gate")  # filled here, not stored
    assert b"s3cret" not in redis_bus.get_blob(redis_bus.keys.cameras())
    assert watch.poll() is None  # the same version: nothing to do

    camera_set.publish(redis_bus, 4, [GATE, YARD, {"id": "dock", "url": "rtsp://u:${DOCK_PW}@10.0.0.9/s"}])
    change = watch.poll()
    assert not change and [c.id for c in watch.cameras] == ["gate", "yard"]
    assert "camera 'dock'.url: environment variable DOCK_PW is not set; left out" in caplog.text

    redis_bus.put_blob(redis_bus.keys.cameras(), b"{not json")
    assert watch.poll() is None and [c.id for c in watch.cameras] == ["gate", "yard"]


def test_a_service_loop_reads_the_list_at_most_once_a_poll_period(redis_bus):
    cfg = parse_config({"cameras": [GATE]}, env=ENV)
    watch = CameraWatch(cfg, redis_bus, env=ENV, every_s=60)
    assert watch.poll() is None  # the first look: nothing published
    camera_set.publish(redis_bus, 1, [GATE, YARD])
    assert watch.poll() is None and len(watch.cameras) == 1  # not due again for a minute
    assert [c.id for c in watch.poll(now=True).added] == ["yard"]  # asked at once (the dashboard's own edit)
