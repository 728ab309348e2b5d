"""The composition root's first half: settings -> engine -> session factory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.clock import Clock, SystemClock
from services.db import make_engine, make_session_factory
from services.settings import Settings, load_settings


@dataclass
class Runtime:
    """What every entry point needs: settings, the database and the clock."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(
    require: Iterable[str] = (), settings: Settings | None = None, clock: Clock | None = None
) -> Runtime:
    """Validate the environment and connect to the database."""
    settings = settings or load_settings(require=require)
    engine = make_engine(settings.database_url)
    return Runtime(settings, engine, make_session_factory(engine), clock or SystemClock())
