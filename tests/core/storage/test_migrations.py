"""The migrations on SQLite and the real PostgreSQL: a database from before a revision keeps its
rows through it, and the schema at head is the models' schema."""
from __future__ import annotations

import uuid
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import text
from support.databases import empty_pg_database, pg_url

from maskwatch.storage.db import head_revision, make_engine, upgrade
from maskwatch.storage.tables import Base


@contextmanager
def fresh(kind: str, tmp_path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    with empty_pg_database() as name:
        yield pg_url(name)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_users_from_before_0003_keep_working_sessions_at_version_0(kind, tmp_path):
    with fresh(kind, tmp_path) as url:
        upgrade(url, "0002")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (username, password_hash, role, active, created_at) "
                              "VALUES ('old', 'x', 'viewer', true, CURRENT_TIMESTAMP)"))
        upgrade(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT session_version FROM users WHERE username = 'old'")).scalar() == 0
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_schema_at_head_is_the_models_schema(kind, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with fresh(kind, tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            assert ctx.get_current_revision() == head_revision()
            diffs = compare_metadata(ctx, Base.metadata)
        engine.dispose()
    assert not diffs, diffs


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_violations_from_before_0005_get_their_face_width_from_the_box(kind, tmp_path):
    with fresh(kind, tmp_path) as url:
        upgrade(url, "0004")
        engine = make_engine(url)
        insert = text("INSERT INTO violations (id, camera_id, track_id, first_seen, last_seen, p_no_mask, face_score,"
                      " box, frame_width, frame_height, sightings, crop_path, frame_path, model_version,"
                      " review_status, created_at) VALUES (:id, 'cam', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
                      " 0.9, 0.8, :box, 640, 480, 3, 'c', 'f', 'm', 'pending', CURRENT_TIMESTAMP)")
        with engine.begin() as conn:
            for vid, box in (("aa" * 8, "[10.0, 20.0, 47.6, 70.0]"), ("bb" * 8, "[5, 5, 5]")):
                conn.execute(insert, {"id": vid, "box": box})
        upgrade(url)
        with engine.connect() as conn:
            widths = dict(conn.execute(text("SELECT id, face_width FROM violations")).all())
        engine.dispose()
    assert widths == {"aa" * 8: 38, "bb" * 8: 0}  # a malformed box gets 0, not a failed migration


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_violations_from_before_0007_keep_no_mask_as_their_verdict(kind, tmp_path):
    with fresh(kind, tmp_path) as url:
        upgrade(url, "0006")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO violations (id, camera_id, track_id, first_seen, last_seen, p_no_mask,"
                              " face_score, box, face_width, frame_width, frame_height, sightings, crop_path,"
                              " frame_path, model_version, review_status, created_at) VALUES ('cc', 'cam', 1,"
                              " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0.9, 0.8, '[1, 2, 30, 40]', 29, 640, 480, 3,"
                              " 'c', 'f', 'm', 'confirmed', CURRENT_TIMESTAMP)"))
        upgrade(url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT verdict, review_label, review_status FROM violations")).one()
        engine.dispose()
    # a two-class model's violation was "no mask"; what the operator said about the face was not asked
    assert tuple(row) == ("no_mask", None, "confirmed")
