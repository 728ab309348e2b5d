"""Pure Block Kit builders: plain values (an alert as services.notify.AlertSnapshot) in, view or message
dicts out, no I/O; their words come from bot.views.wording."""

from bot.views.activity import activity_message
from bot.views.compose import compose_view, loading_view, refusal_view, skipped_view
from bot.views.confirm import confirm_view
from bot.views.home import home_view
from bot.views.models import (
    RANGE_PRESETS,
    ComposeState,
    ConfirmState,
    MessageStats,
    SkippedPerson,
)

__all__ = [
    "RANGE_PRESETS",
    "ComposeState",
    "ConfirmState",
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
