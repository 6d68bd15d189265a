"""Users, roles and sessions: who may log in and what each role may see.

Roles:
- analyst: everything, any practice's identifiable rows (audited);
- commissioner: aggregates only, always disclosure-controlled;
- clinician, care_coordinator: identifiable rows only for the practices
  stored against them (a PCN's worklist when they hold all its practices).

Passwords are hashed with argon2; the session is a signed cookie whose key
is kept in HOME/secrets/web_session.key.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from phm.web.accounts import User, UserPractice

Role = Literal["analyst", "commissioner", "clinician", "care_coordinator"]
ROLES: tuple[str, ...] = get_args(Role)
CARE_ROLES = frozenset({"clinician", "care_coordinator"})
ADMIN_USERNAME = "admin"

_hasher = PasswordHasher()


class AccountError(ValueError):
    """A user that cannot be created as asked."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in user, as the pages need them."""

    username: str
    role: str
    practices: frozenset[str]

    @property
    def identifiable(self) -> bool:
        """May this role see identifiable rows at all?"""
        return self.role == "analyst" or self.role in CARE_ROLES

    def may_see_practice(self, code: str) -> bool:
        return self.role == "analyst" or (self.role in CARE_ROLES and code in self.practices)

    def may_see_practices(self, codes: Iterable[str]) -> bool:
        wanted = set(codes)
        return bool(wanted) and all(self.may_see_practice(c) for c in wanted)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    practices: Iterable[str] = (),
) -> User:
    """Add a user (committed). Care roles need at least one practice code."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    codes = sorted(set(practices))
    if role in CARE_ROLES and not codes:
        raise AccountError(f"a {role} needs the practice codes they may see")
    if role == "commissioner" and codes:
        raise AccountError("a commissioner sees aggregates only: give no practice codes")
    if len(password) < 12:
        raise AccountError("a password needs at least 12 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} exists already")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        created_at=dt.datetime.now(dt.UTC),
        practices=[UserPractice(practice_code=c) for c in codes],
    )
    session.add(user)
    session.commit()
    return user


def ensure_admin(session: Session) -> str | None:
    """On first start (no users yet) create the analyst `admin`; return its new password."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(18)
    create_user(session, ADMIN_USERNAME, password, "analyst")
    return password


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user when the password matches, else None (same work either way)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        _hasher.hash(password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.commit()
    return user


def viewer_of(user: User) -> Viewer:
    return Viewer(username=user.username, role=user.role, practices=user.practice_codes)


def session_secret(home: Path) -> str:
    """The key that signs session cookies, made once and kept in HOME/secrets/."""
    path = home / "secrets" / "web_session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
