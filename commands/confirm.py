"""The confirmation's Send button: authorize again, create the alert once, post its activity entry."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from commands.compose_state import ConfirmMeta
from commands.context import app_context
from commands.gate import IDENTITY, chosen
from services import alerts


def idempotency_key(view_id: str) -> str:
    """One alert per confirmation view, however many times Send is clicked."""
    return f"slack:{view_id}"


def send_alert(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
    """Create the alert the confirmation view carries (once per view), close the modal, post its entry."""
    ctx = app_context(context)
    view = body["view"]
    carried = ConfirmMeta.loads(view["private_metadata"])
    choice = chosen(context)
    request = alerts.AlertRequest(
        clinic_id=carried.clinic_id,
        created_by_name=choice.user_full_name,
        rng=carried.rng,
        message=carried.message,
        created_by_user_id=choice.clinic_user_id,
        slack_user_id=context[IDENTITY].user_id,
        slack_channel_id=carried.channel_id,
        idempotency_key=idempotency_key(view["id"]),
        start_at=carried.at,
    )
    alert_id, created = alerts.create_alert(
        ctx.sessions,
        request,
        now=ctx.clock.now(),
        default_pace=ctx.settings.alert_pace_seconds,
        max_chars=ctx.settings.alert_max_chars,
    )
    ack(response_action="clear")
    if created and ctx.notifier is not None and carried.at is None:  # a scheduled one posts when it starts
        alerts.start_notification(ctx.sessions, alert_id, ctx.notifier, ctx.clock.now())
