"""The `mass-alert` command line: one verb group per module, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from services.errors import DomainError
from services.settings import SettingsError

#: Modules that add verbs; each defines register(subparsers) and sets `func` on its parsers.
VERB_MODULES = (
    "bot.cli_data",
    "bot.cli_db",
    "bot.cli_preview",
    "bot.cli_send",
    "bot.cli_serve",
    "bot.cli_demo",
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
    level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(
        level=level if level in logging.getLevelNamesMapping() else "WARNING",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # A tick still running when the next is due is normal under load; APScheduler would warn each time.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except SettingsError as error:
        print(str(error), file=sys.stderr)
        return 2
    except DomainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
