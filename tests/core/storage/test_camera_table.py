"""The cameras table (maskwatch.storage.cameras) on SQLite and PostgreSQL: the file seeds it once,
edits and removals win over the file, every change moves the version forward."""
from sqlalchemy import func, select

from maskwatch.storage import cameras as table
from maskwatch.storage.db import make_engine, session_factory
from maskwatch.storage.tables import Camera

FILE = [{"id": "gate", "url": "rtsp://u:${PW}@10.0.0.2/s"}, {"id": "yard", "url": "rtsp://10.0.0.3/s"}]


def test_the_file_seeds_and_the_dashboard_edits(db_url):
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    try:
        with sessions.begin() as s:
            assert table.seed(s, FILE) == 2
        with sessions.begin() as s:
            assert table.seed(s, FILE) == 0  # a restart adds nothing
            v1, specs = table.current(s)
        assert v1 == 1 and [c["id"] for c in specs] == ["gate", "yard"]
        assert specs[0]["url"] == "rtsp://u:${PW}@10.0.0.2/s"  # the placeholder, never the secret

        with sessions.begin() as s:
            v2 = table.save(s, {"id": "gate", "url": "rtsp://u:${PW}@10.0.0.2/s", "fps": 2}, "alice", replaces="gate")
            table.remove(s, "yard", "alice")
            v3 = table.save(s, {"id": "dock", "url": "rtsp://10.0.0.4/s"}, "alice")
        with sessions.begin() as s:
            assert table.seed(s, FILE + [{"id": "roof", "url": "rtsp://10.0.0.5/s"}]) == 1  # yard stays removed
            version, specs = table.current(s)
        assert v1 < v2 < v3 < version
        assert [(c["id"], c.get("fps")) for c in specs] == [("gate", 2), ("dock", None), ("roof", None)]

        with sessions.begin() as s:  # renamed: the old id is removed, the camera keeps its place
            table.save(s, {"id": "main-gate", "url": "rtsp://10.0.0.2/s"}, "bob", replaces="gate")
        with sessions() as s:
            assert [c["id"] for c in table.current(s)[1]] == ["main-gate", "dock", "roof"]
            assert table.get(s, "gate") is None and s.scalar(select(func.count()).select_from(Camera)) == 5
            assert not table.remove(s, "gate", "bob")  # already gone
    finally:
        engine.dispose()
