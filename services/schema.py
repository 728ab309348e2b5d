"""Is the database there, reachable and at the newest migration? Asked without creating anything.

`serve`, `worker`, `check` and `/readyz` ask before they use the database: a never-migrated SQLite file
is not created by the asking (SQLite creates a missing file on connect, so the file is looked for first),
and the answer names the command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from services.errors import DomainError

UPGRADE_COMMAND = "mass-alert db upgrade"


@dataclass(frozen=True)
class SchemaState:
    """Where the database stands: `reachable` False with `problem` when it could not be asked."""

    reachable: bool
    current: str | None
    head: str
    problem: str = ""

    @property
    def at_head(self) -> bool:
        return self.reachable and self.current == self.head

    def describe(self) -> str:
        """One line for an operator: what is wrong and the command that fixes it ("" when at head)."""
        if not self.reachable:
            return f"the database cannot be reached: {self.problem}"
        if self.current is None:
            return f"the database has no schema yet (never migrated): run `{UPGRADE_COMMAND}`"
        if self.current != self.head:
            return (
                f"the database schema is at revision {self.current}, this version needs {self.head}: "
                f"run `{UPGRADE_COMMAND}`"
            )
        return ""


def head_revision() -> str:
    """The newest revision in migrations/ (Alembic's head)."""
    from alembic.script import ScriptDirectory

    from services.db import MIGRATIONS_DIR

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "migrations/ has no revisions"
    return head


def missing_sqlite_file(url: str) -> Path | None:
    """The file a sqlite:/// URL names when it does not exist yet (connecting would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database or "")
    return None if path.exists() else path


def revision_of(connection: Connection) -> str | None:
    """The revision stamped in the database behind `connection` (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def short_reason(error: BaseException) -> str:
    """The first line of a database error, the driver's own text (an operator's terminal or the log)."""
    inner = getattr(error, "orig", None) or error
    lines = str(inner).strip().splitlines()
    return lines[0] if lines else type(inner).__name__


def schema_state(engine: Engine, head: str | None = None) -> SchemaState:
    """Ask `engine`'s database for its revision; a SQLite file that is missing is reported, not created."""
    head = head or head_revision()
    missing = missing_sqlite_file(engine.url.render_as_string(hide_password=False))
    if missing is not None:
        return SchemaState(True, None, head)
    try:
        with engine.connect() as connection:
            current = revision_of(connection)
    except SQLAlchemyError as error:
        return SchemaState(False, None, head, short_reason(error))
    return SchemaState(True, current, head)


def require_head(engine: Engine) -> None:
    """Raise DomainError naming `mass-alert db upgrade` unless the database is reachable and at head."""
    state = schema_state(engine)
    if not state.at_head:
        raise DomainError(f"Not starting: {state.describe()}.")
