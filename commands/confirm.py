"""The confirmation's Send button: authorize again, create the alert once, post its activity entry."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.container import AppContext
from bot.ids import CallbackId
from bot.notifier import SlackNotifier
from commands.compose_state import ConfirmMeta, confirm_clinic
from commands.gate import IDENTITY, chosen, require_sender
from services import alerts


def idempotency_key(view_id: str) -> str:
    """One alert per confirmation view, however many times Send is clicked."""
    return f"slack:{view_id}"


def _confirm(ctx: AppContext) -> Any:
    def send(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
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
        )
        alert_id, created = alerts.create_alert(
            ctx.sessions,
            request,
            now=ctx.clock.now(),
            default_pace=ctx.settings.alert_pace_seconds,
            max_chars=ctx.settings.alert_max_chars,
        )
        ack(response_action="clear")
        if created:
            alerts.start_notification(
                ctx.sessions, alert_id, SlackNotifier(ctx.client, ctx.clock), ctx.clock.now()
            )

    return send


def register(app: App, ctx: AppContext) -> None:
    """The confirmation view's submission."""
    app.view(
        str(CallbackId.CONFIRM), middleware=[require_sender(ctx, lambda body, _ctx: confirm_clinic(body))]
    )(_confirm(ctx))
