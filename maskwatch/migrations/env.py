"""Alembic environment: the URL comes from maskwatch's config, never from alembic.ini.

On PostgreSQL a session advisory lock makes concurrent upgrades (init containers of several
pods, a job beside them) run one after the other: the second finds the schema at head.
"""
from alembic import context
from sqlalchemy import text

from maskwatch.storage.db import make_engine
from maskwatch.storage.tables import Base

config = context.config
MIGRATION_LOCK = 0x6D61736B  # "mask": one key for every maskwatch upgrade on a server


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()  # the lock is the session's, held until this connection closes
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
