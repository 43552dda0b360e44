"""Engine and sessions from the database config; schema through Alembic migrations."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from maskwatch.errors import MaskwatchError
from maskwatch.paths import migrations_dir
from maskwatch.redact import redact_db_url

log = logging.getLogger(__name__)

MIGRATIONS = migrations_dir()


def make_engine(url: str, echo: bool = False) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _):  # WAL: the dashboard reads while events writes
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
        return engine
    return create_engine(u, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate to `revision`; concurrent runs on PostgreSQL wait for each other (migrations/env.py)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


class SchemaNotReady(MaskwatchError):
    """The database cannot be reached, or its schema is not the one this version needs."""


def head_revision() -> str:
    """The schema revision this version of maskwatch needs."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def schema_revision(url: str) -> str | None:
    """The revision the database is at (None: no schema yet); SQLAlchemyError when unreachable."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def wait_for_schema(url: str, timeout_s: float, interval_s: float = 2.0,
                    sleep: Callable[[float], None] = time.sleep) -> str:
    """Block until the database is reachable and at this version's schema (`maskwatch db wait`,
    the init container of the services that need it); SchemaNotReady after `timeout_s`."""
    head = head_revision()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            current = schema_revision(url)
            problem = None if current == head else (
                f"schema at {current or 'nothing'}, this version needs {head} (`maskwatch db upgrade` has not "
                "run yet, or the database is newer than this version)")
        except SQLAlchemyError as e:
            problem = f"not reachable ({type(e).__name__})"
        if problem is None:
            return head
        if time.monotonic() >= deadline:
            raise SchemaNotReady(f"database {redact_db_url(url)}: {problem}; waited {timeout_s:.0f} s")
        log.info("database %s: %s; waiting", redact_db_url(url), problem)
        sleep(interval_s)
