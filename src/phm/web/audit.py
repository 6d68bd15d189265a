"""The audit log: every view or download of identifiable rows, and every refusal."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from phm.web.accounts import AuditEvent
from phm.web.auth import Viewer


def record(
    session: Session,
    *,
    viewer: Viewer | None,
    action: str,
    path: str,
    status: int,
    rows: int = 0,
    detail: str = "",
) -> AuditEvent:
    """Write one audit event (committed) and return it."""
    event = AuditEvent(
        at=dt.datetime.now(dt.UTC),
        username=viewer.username if viewer else None,
        role=viewer.role if viewer else None,
        action=action,
        path=path,
        detail=detail,
        rows=rows,
        status=status,
    )
    session.add(event)
    session.commit()
    return event


def recent(session: Session, limit: int = 200) -> list[AuditEvent]:
    """The latest audit events, newest first."""
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
