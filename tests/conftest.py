"""Shared fixtures: a fresh database per test on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from services.clock import ManualClock
from services.db import make_engine, make_session_factory
from services.models import Base

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
IN_CI = bool(os.environ.get("CI"))
_pg_checked: dict[str, str | None] = {}


def _pg_problem() -> str | None:
    """None when PostgreSQL answers; else why not (cached)."""
    if "result" not in _pg_checked:
        try:
            engine = create_engine(PG_URL)
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            engine.dispose()
            _pg_checked["result"] = None
        except Exception as error:
            _pg_checked["result"] = f"{type(error).__name__}: {error}"
    return _pg_checked["result"]


def _backends() -> list[str]:
    return ["sqlite", "postgresql"]


def pg_schema_url(schema: str) -> str:
    """PG_URL with its search_path set to `schema` (works for subprocesses too)."""
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_URL:
        if IN_CI:
            pytest.fail("CI is set but TEST_DATABASE_URL is not: PostgreSQL tests cannot run")
        pytest.skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
    if (problem := _pg_problem()) is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL at TEST_DATABASE_URL cannot be reached in CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database holding the full schema."""
    eng = make_engine(db_url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite-only engine for tests where the backend does not matter."""
    eng = make_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
