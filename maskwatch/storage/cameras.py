"""The cameras table: the site's camera list, the one a running site follows.

Why a table and not the file written back: the config file is mounted read-only into every
container (Compose's `read_only`, a Kubernetes ConfigMap), and a file the dashboard rewrote would
lose its comments or need a second writer's lock. So the file seeds the table: every start adds the
file's cameras that the table has never had (`seed`), and never touches one an admin edited or
removed. After that, the dashboard edits it (`save`, `remove`), every change under a new version;
`current` is the list as published to the services (maskwatch.camera_set). Functions take a
Session: the caller owns the transaction.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maskwatch.storage.tables import Camera, utcnow

FILE = "config file"


def version(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(Camera.version), 0)))


def seed(session: Session, raw_cameras: list[dict]) -> int:
    """Add the file's cameras the table never had; how many were added."""
    known = set(session.scalars(select(Camera.id)))
    new = [raw for raw in raw_cameras if raw.get("id") not in known]
    if not new:
        return 0
    v = version(session) + 1
    first = session.scalar(select(func.coalesce(func.max(Camera.position), -1))) + 1
    for i, raw in enumerate(new):
        session.add(Camera(id=raw["id"], position=first + i, spec=dict(raw), removed=False, version=v,
                           updated_by=FILE))
    return len(new)


def save(session: Session, spec: dict, by: str, *, replaces: str | None = None) -> int:
    """Add a camera, or change one (`replaces`: its id before the edit); the new version."""
    v = version(session) + 1
    row = session.get(Camera, replaces or spec["id"])
    if row is None or row.id != spec["id"]:
        if row is not None:  # renamed: the old id is removed, the camera keeps its place
            row.removed, row.version, row.updated_at, row.updated_by = True, v, utcnow(), by
        position = row.position if row is not None else \
            session.scalar(select(func.coalesce(func.max(Camera.position), -1))) + 1
        row = session.get(Camera, spec["id"]) or Camera(id=spec["id"], position=position)
        session.add(row)
    row.spec, row.removed, row.version, row.updated_at, row.updated_by = dict(spec), False, v, utcnow(), by
    return v


def remove(session: Session, cam_id: str, by: str) -> bool:
    row = session.get(Camera, cam_id)
    if row is None or row.removed:
        return False
    row.removed, row.version, row.updated_at, row.updated_by = True, version(session) + 1, utcnow(), by
    return True


def current(session: Session) -> tuple[int, list[dict]]:
    """(version, the cameras' specs in their order), removed ones left out."""
    return version(session), [dict(r.spec) for r in listing(session)]


def listing(session: Session) -> list[Camera]:
    return list(session.scalars(select(Camera).where(Camera.removed.is_(False)).order_by(Camera.position, Camera.id)))


def get(session: Session, cam_id: str) -> Camera | None:
    row = session.get(Camera, cam_id)
    return None if row is None or row.removed else row
