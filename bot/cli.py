"""The `mass-alert` command line: one verb group per module, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError, ProgrammingError

from services.errors import DomainError
from services.logs import setup_logging
from services.schema import UPGRADE_COMMAND, short_reason
from services.settings import LOG_FORMATS, LOG_LEVELS, SettingsError

#: Modules that add verbs; each defines register(subparsers) and sets `func` on its parsers.
VERB_MODULES = (
    "bot.cli_data",
    "bot.cli_db",
    "bot.cli_preview",
    "bot.cli_send",
    "bot.cli_resume",
    "bot.cli_serve",
    "bot.cli_demo",
    "bot.cli_check",
    "bot.cli_templates",
    "bot.cli_retry",
    "bot.cli_schedule",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every verb."""
    parser = argparse.ArgumentParser(
        prog="mass-alert",
        description="Mass Text Alerts for Slack: text every client with an upcoming appointment.",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in VERB_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; configuration and domain errors become a plain message and a non-zero exit."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Read leniently here (the verb validates every variable and names a bad one); redaction from the start.
    level = os.environ.get("LOG_LEVEL", "").strip().upper()
    log_format = os.environ.get("LOG_FORMAT", "").strip().lower()
    setup_logging(
        level if level in LOG_LEVELS else "WARNING", log_format if log_format in LOG_FORMATS else "text"
    )
    try:
        return int(args.func(args) or 0)
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        return 2
    except DomainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (OperationalError, ProgrammingError) as error:
        # A missing table or an unreachable server: one line and the likely fix, not a traceback.
        print(
            f"error: the database refused the request ({short_reason(error)}); "
            f"is it reachable, and at the newest schema (`{UPGRADE_COMMAND}`)?",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
