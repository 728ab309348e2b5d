"""`mass-alert db upgrade|downgrade|current`: schema migrations."""

from __future__ import annotations

import argparse

from services import db
from services.settings import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="create or migrate the database schema")
    verbs = parser.add_subparsers(dest="db_verb", metavar="ACTION", required=True)
    up = verbs.add_parser("upgrade", help="migrate to the newest schema (creates the SQLite file)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_upgrade)
    down = verbs.add_parser("downgrade", help="migrate back to a revision (base removes every table)")
    down.add_argument("revision", nargs="?", default="base")
    down.set_defaults(func=_downgrade)
    cur = verbs.add_parser("current", help="print the schema revision")
    cur.set_defaults(func=_current)


def _upgrade(args: argparse.Namespace) -> int:
    settings = load_settings()
    db.upgrade(settings.database_url, args.revision)
    print(f"database at revision {db.current_revision(settings.database_url)}")
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    settings = load_settings()
    db.downgrade(settings.database_url, args.revision)
    print(f"database at revision {db.current_revision(settings.database_url) or 'base'}")
    return 0


def _current(args: argparse.Namespace) -> int:
    print(db.current_revision(load_settings().database_url) or "base (not migrated)")
    return 0
