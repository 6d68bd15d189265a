"""The web store on SQLite and, when it is reachable, PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from phm.web.accounts import AuditEvent, open_database
from phm.web.audit import record
from phm.web.auth import AccountError, authenticate, create_user, ensure_admin, viewer_of

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
    schema = f"phm_web_test_{secrets.token_hex(4)}"
    try:
        con = psycopg.connect(
            "host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True, connect_timeout=3
        )
    except psycopg.OperationalError as e:
        pytest.skip(f"no PostgreSQL at 127.0.0.1:5432/test ({e.__class__.__name__})")
    con.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        con.execute(f"DROP SCHEMA {schema} CASCADE")
        con.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'web.sqlite'}"
    else:
        yield from _postgres_url()


def test_users_roles_and_audit_round_trip(database: str) -> None:
    sessions = open_database(database)
    with sessions() as session:
        assert ensure_admin(session) is not None
        assert ensure_admin(session) is None
        create_user(session, "gp", "a-long-password", "clinician", ["Y99001", "Y99002"])
        with pytest.raises(AccountError, match="practice codes"):
            create_user(session, "cc", "a-long-password", "care_coordinator")
        with pytest.raises(AccountError, match="aggregates only"):
            create_user(session, "com", "a-long-password", "commissioner", ["Y99001"])
        user = authenticate(session, "gp", "a-long-password")
        assert user is not None and authenticate(session, "gp", "wrong") is None
        assert "argon2" in user.password_hash
        viewer = viewer_of(user)
        assert viewer.may_see_practice("Y99001") and not viewer.may_see_practice("Y99003")
        record(
            session, viewer=viewer, action="view_worklist", path="/worklist", status=200, rows=12
        )
        event = session.scalars(select(AuditEvent)).one()
        assert (event.username, event.rows) == ("gp", 12)
