"""Pure Block Kit builders: plain values in, view or message dicts out, no I/O."""

from bot.views.activity import activity_message
from bot.views.compose import compose_view, loading_view, refusal_view, skipped_view
from bot.views.confirm import confirm_view
from bot.views.home import home_view
from bot.views.models import (
    RANGE_PRESETS,
    ActivitySnapshot,
    ComposeState,
    ConfirmState,
    HomeItem,
    MessageStats,
    SkippedPerson,
)

__all__ = [
    "RANGE_PRESETS",
    "ActivitySnapshot",
    "ComposeState",
    "ConfirmState",
    "HomeItem",
    "MessageStats",
    "SkippedPerson",
    "activity_message",
    "compose_view",
    "confirm_view",
    "home_view",
    "loading_view",
    "refusal_view",
    "skipped_view",
]
