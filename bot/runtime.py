"""The data verbs' shortcut to the composition root: validated environment in, `AppContext` out."""

from __future__ import annotations

from collections.abc import Iterable

from bot.container import AppContext
from bot.main import build
from services.settings import Settings, load_settings

#: The one process context (Runtime and AppContext were merged); the name stays for the data verbs.
Runtime = AppContext


def open_runtime(require: Iterable[str] = (), settings: Settings | None = None) -> AppContext:
    """`build(settings)`, the settings read from the environment unless given (SettingsError says why not)."""
    return build(settings or load_settings(require=require))
