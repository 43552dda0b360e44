"""Test databases: each PostgreSQL test gets its own database, created from the `test` database and
dropped afterwards; SQLite ones live in the test's tmp_path. Schemas come from the Alembic
migrations (maskwatch.storage.db.upgrade)."""
from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from maskwatch.storage.db import upgrade

PG_HOST = os.environ.get("MASKWATCH_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("MASKWATCH_TEST_PG_PORT", "5432"))
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test"


def pg_url(dbname: str, port: int = PG_PORT) -> str:
    return f"postgresql+psycopg://postgres@{PG_HOST}:{port}/{dbname}"


@contextlib.contextmanager
def empty_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database without any schema; yields its name and drops it afterwards."""
    import psycopg

    name = f"mw_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database; yields its name and drops it afterwards."""
    with empty_pg_database() as name:
        upgrade(pg_url(name))
        yield name




@contextlib.contextmanager
def pg_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database; yields its URL."""
    with pg_database() as name:
        yield pg_url(name)


def sqlite_database(tmp: Path, name: str = "maskwatch.db") -> str:
    """A migrated SQLite database under tmp; its URL."""
    url = f"sqlite:///{tmp / name}"
    upgrade(url)
    return url
