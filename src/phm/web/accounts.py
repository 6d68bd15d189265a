"""The web application's own store: users, the practices they may see, and the audit log.

SQLAlchemy 2 over SQLite (HOME/web.sqlite) by default; set PHM_WEB_DB to a
SQLAlchemy URL (e.g. postgresql+psycopg://host/db) to use another database.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

DB_ENV = "PHM_WEB_DB"


class Base(DeclarativeBase):
    """Tables of the web store."""


class User(Base):
    """A person who logs in: a role and, for care roles, the practices they may see."""

    __tablename__ = "web_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    practices: Mapped[list[UserPractice]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def practice_codes(self) -> frozenset[str]:
        return frozenset(p.practice_code for p in self.practices)


class UserPractice(Base):
    """One practice whose identifiable rows a user may see."""

    __tablename__ = "web_user_practice"

    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), primary_key=True)
    practice_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    user: Mapped[User] = relationship(back_populates="practices")


class AuditEvent(Base):
    """Who did what, when, to how many identifiable rows; and every refusal."""

    __tablename__ = "web_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    username: Mapped[str | None] = mapped_column(String(120), nullable=True)
    role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[int] = mapped_column(Integer)


def database_url(home: Path) -> str:
    """PHM_WEB_DB when set, else the SQLite file HOME/web.sqlite."""
    return os.environ.get(DB_ENV) or f"sqlite:///{home / 'web.sqlite'}"


def open_database(url: str) -> sessionmaker[Session]:
    """Connect, create the tables if missing, and return a session factory."""
    engine: Engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return sessionmaker(engine, expire_on_commit=False)
