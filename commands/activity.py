"""Buttons on the activity entry: Cancel, Resume and "Text the N not reached" (admins of the alert's clinic
only) and the report link; Cancel of a scheduled alert (its entry and App Home)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.container import AppContext
from bot.views import activity_message
from commands import home
from commands.context import app_context
from commands.errors import MalformedRequest, tell
from commands.gate import chosen, identity_of
from services import alerts, retry, scheduled
from services.errors import DomainError


@dataclass(frozen=True)
class CancelClick:
    """A click on an entry's Cancel button."""

    alert_id: int
    channel_id: str
    message_ts: str
    user_id: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> CancelClick:
        """Parse a block_actions body from a channel message (MalformedRequest when it lacks a field)."""
        container = body.get("container") or {}
        try:
            return cls(
                int(body["actions"][0]["value"]),
                container.get("channel_id") or body["channel"]["id"],
                container.get("message_ts") or body["message"]["ts"],
                body["user"]["id"],
            )
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise MalformedRequest(
                f"a Cancel click without its alert, channel or message: {error!r}"
            ) from None


def clicked_alert(body: dict[str, Any]) -> int:
    """The alert a button names in its value, on a channel entry or in App Home (MalformedRequest if none)."""
    try:
        return int(body["actions"][0]["value"])
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise MalformedRequest(f"an alert button without its alert: {error!r}") from None


def alert_clinic(body: dict[str, Any], ctx: AppContext) -> int:
    """The clinic of the alert the button belongs to (authorization is for that clinic)."""
    return alerts.snapshot(ctx.sessions, clicked_alert(body), ctx.clock.now()).clinic_id


def cancel_alert(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """Cancel: stop the alert's remaining texts and show the entry's new state (or say it had finished)."""
    ack()
    ctx = app_context(context)
    click = CancelClick.of(body)
    stopped = alerts.cancel_alert(
        ctx.sessions, click.alert_id, by_name=chosen(context).user_full_name, now=ctx.clock.now()
    )
    if not stopped:
        client.chat_postEphemeral(
            channel=click.channel_id,
            user=click.user_id,
            text=f"Mass text alert #{click.alert_id} had already finished, "
            "so there was nothing left to cancel.",
        )
        return
    now = ctx.clock.now()
    text, blocks = activity_message(alerts.snapshot(ctx.sessions, click.alert_id, now), now)
    client.chat_update(channel=click.channel_id, ts=click.message_ts, text=text, blocks=blocks)


def cancel_scheduled(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """Cancel on a scheduled alert (its entry or App Home; admins of its clinic, after the confirm dialog):
    it never starts, and its entry says who cancelled it. A click on one that already started, was
    cancelled or stopped is answered to the clicker alone, saying which."""
    ack()
    ctx = app_context(context)
    alert_id = clicked_alert(body)
    who = chosen(context).user_full_name
    try:
        scheduled.cancel_scheduled(ctx.sessions, alert_id, by_name=who, now=ctx.clock.now())
    except scheduled.NotScheduled as refused:
        tell(client, body, context, str(refused))
        return
    if ctx.notifier is not None:
        alerts.show_entry(ctx.sessions, alert_id, ctx.notifier, ctx.clock.now())
    if (body.get("view") or {}).get("type") == "home":
        home.republish(ctx, client, identity_of(body))


def resume_alert(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """Resume: carry on a stopped alert in the same entry (the permission middleware is Cancel's)."""
    ack()
    ctx = app_context(context)
    click = CancelClick.of(body)
    try:
        resumed = alerts.resume_alert(
            ctx.sessions, click.alert_id, by_name=chosen(context).user_full_name, now=ctx.clock.now()
        )
    except alerts.NotStopped as error:
        client.chat_postEphemeral(channel=click.channel_id, user=click.user_id, text=str(error))
        return
    now = ctx.clock.now()
    text, blocks = activity_message(alerts.snapshot(ctx.sessions, click.alert_id, now), now)
    client.chat_update(channel=click.channel_id, ts=click.message_ts, text=text, blocks=blocks)
    if resumed.requeued == 0:
        client.chat_postEphemeral(
            channel=click.channel_id,
            user=click.user_id,
            text=f"Mass text alert #{click.alert_id} has nobody left to text; there was nothing to resume.",
        )


def ack_only(ack: Ack) -> None:
    """A link button (the report): Slack opens the URL; the app only acknowledges."""
    ack()


def retry_alert(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
    """ "Text the N not reached" (admins of the alert's clinic, confirmed in a dialog): queue the linked
    alert, post its entry, and show the original's entry without the button. A refusal (still sending,
    nobody left worth texting) is told to the clicker alone."""
    ack()
    ctx = app_context(context)
    click = CancelClick.of(body)
    who = chosen(context)
    request = retry.RetryRequest(click.alert_id, who.user_full_name, who.clinic_user_id, click.user_id)
    try:
        new_id, created = retry.create_retry(
            ctx.sessions, request, now=ctx.clock.now(), default_pace=ctx.settings.alert_pace_seconds
        )
    except DomainError as refused:
        client.chat_postEphemeral(channel=click.channel_id, user=click.user_id, text=str(refused))
        return
    if created and ctx.notifier is not None:
        alerts.show_entry(ctx.sessions, new_id, ctx.notifier, ctx.clock.now())
    now = ctx.clock.now()
    text, blocks = activity_message(alerts.snapshot(ctx.sessions, click.alert_id, now), now)
    client.chat_update(channel=click.channel_id, ts=click.message_ts, text=text, blocks=blocks)
