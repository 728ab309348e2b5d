"""The confirmation's Send button: check what the view carries again, answer Slack, then create the alert.

The answer (`response_action: clear`) goes before the alert is created: freezing the recipients of a
100,000-client alert takes seconds, past Slack's 3 s for a view_submission. The idempotency key still
makes one alert per confirmation view, however many times Send is clicked.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from bot.container import AppContext
from commands.compose_state import ConfirmMeta
from commands.context import app_context
from commands.errors import MODAL_CLOSED, TELL_IN_CHANNEL
from commands.gate import IDENTITY, chosen
from services import alerts
from services.compose import clinic_facts
from services.timeranges import TimeRange, custom_range


def idempotency_key(view_id: str) -> str:
    """One alert per confirmation view, however many times Send is clicked."""
    return f"slack:{view_id}"


def checked_range(ctx: AppContext, carried: ConfirmMeta) -> TimeRange:
    """The carried range checked again in the clinic's own time zone (over, reversed, past 7 days:
    InvalidInput), as at Review; the view's copy is never trusted."""
    tz = clinic_facts(ctx.sessions, carried.clinic_id, ctx.settings.alert_pace_seconds).tz
    return custom_range(carried.start, carried.end, tz, ctx.clock.now())


def send_alert(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
    """Send: re-check range and message, close the modal, then create the alert once and post its entry.

    The clinic was authorized again for this person by the listener middleware. A refusal found before
    the answer replaces the modal (the error handler); one found after it is told in the channel or a DM.
    """
    ctx = app_context(context)
    view = body["view"]
    carried = ConfirmMeta.loads(view["private_metadata"])
    rng = checked_range(ctx, carried)
    alerts.check_message(carried.message.strip(), ctx.settings.alert_max_chars)
    choice = chosen(context)
    ack(response_action="clear")
    context[MODAL_CLOSED] = True
    context[TELL_IN_CHANNEL] = carried.channel_id
    request = alerts.AlertRequest(
        clinic_id=choice.clinic_id,
        created_by_name=choice.user_full_name,
        rng=rng,
        message=carried.message,
        created_by_user_id=choice.clinic_user_id,
        slack_user_id=context[IDENTITY].user_id,
        idempotency_key=idempotency_key(view["id"]),
        start_at=carried.at,
        urgent=carried.urgent,
    )
    alert_id, created = alerts.create_alert(
        ctx.sessions,
        request,
        now=ctx.clock.now(),
        default_pace=ctx.settings.alert_pace_seconds,
        max_chars=ctx.settings.alert_max_chars,
    )
    if created and ctx.notifier is not None:  # a scheduled alert's entry waits with Cancel, then carries on
        alerts.show_entry(ctx.sessions, alert_id, ctx.notifier, ctx.clock.now(), asked_in=carried.channel_id)
