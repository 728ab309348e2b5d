"""The process's AppContext inside Bolt's per-request `context`, put there by one global middleware.

Listeners are plain functions of Bolt's arguments (`ack`, `body`, `client`, `context`, ...); they read
the AppContext with `app_context(context)`, so a test can call one with a fake `ack` and a context dict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.container import AppContext

#: Bolt context key of the AppContext.
APP_CONTEXT = "app_context"


def share_context(ctx: AppContext) -> Callable[..., None]:
    """Global middleware: every request's `context` carries `ctx` before any listener or middleware runs."""

    def put_app_context(context: dict[str, Any], next: Callable[[], None]) -> None:
        context[APP_CONTEXT] = ctx
        next()

    return put_app_context


def app_context(context: dict[str, Any]) -> AppContext:
    """The AppContext the global middleware put into this request's `context` (KeyError when it did not)."""
    found: AppContext = context[APP_CONTEXT]
    return found
