"""App Home: the Activity list of the clinic's recent alerts, published when the Home tab opens; in OAuth
mode, a Link button for an Admin whose clinic the operator created without a workspace."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.container import AppContext
from bot.ids import ActionId, BlockId, keyed, split_key
from bot.views import home_view
from bot.views.common import plain
from commands.context import app_context
from commands.gate import SlackIdentity, check_sender, email_of, identity_of
from services import alerts
from services.authorization import NotAuthorized, Refusal
from services.compose import clinic_facts
from services.installations import UnlinkedClinic, link_clinic, unlinked_clinics

#: How many recent alerts the Home tab lists.
HOME_LIMIT = 20


def home_for(ctx: AppContext, client: WebClient, identity: SlackIdentity) -> dict[str, Any]:
    """The Home view for one person: their clinics' recent alerts, or why they have none."""
    now = ctx.clock.now()
    try:
        sender = check_sender(ctx, client, identity)
    except NotAuthorized as refusal:
        view = home_view(None, [], "UTC", now=now, notice=str(refusal))
        if ctx.installations is not None and refusal.reason == Refusal.WORKSPACE_NOT_LINKED:
            view["blocks"][1:1] = link_blocks(
                unlinked_clinics(ctx.sessions, email_of(client, identity.user_id))
            )
        return view
    snaps = alerts.recent_alerts(ctx.sessions, [c.clinic_id for c in sender.choices], now, limit=HOME_LIMIT)
    name = " · ".join(c.clinic_name for c in sender.choices)
    facts = clinic_facts(ctx.sessions, sender.choices[0].clinic_id, ctx.settings.alert_pace_seconds)
    return home_view(name, snaps, facts.tz, now=now)


def publish_home(
    body: dict[str, Any], event: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    """app_home_opened on the Home tab: publish the person's Activity list."""
    if event.get("tab", "home") != "home":
        return
    identity = identity_of(body)
    client.views_publish(user_id=identity.user_id, view=home_for(app_context(context), client, identity))


def link_blocks(clinics: list[UnlinkedClinic]) -> list[dict[str, Any]]:
    """OAuth mode, for an Admin of clinics the operator created unlinked: one "Link" button per clinic."""
    if not clinics:
        return []
    buttons = [
        ButtonElement(
            text=plain(f"Link {clinic.name} to this workspace", 75),
            action_id=keyed(ActionId.HOME_LINK_CLINIC, clinic.clinic_id),
            value=str(clinic.clinic_id),
        )
        for clinic in clinics[:25]  # Slack: at most 25 elements in an actions block
    ]
    return [ActionsBlock(block_id=BlockId.HOME_LINK, elements=buttons).to_dict()]


def link_clinic_from_home(
    ack: Callable[[], None], body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    """The Home tab's Link button: the Admin's clinic joins this workspace, then Home shows its alerts."""
    ack()
    ctx = app_context(context)
    identity = identity_of(body)
    _, key = split_key(str((body.get("actions") or [{}])[0].get("action_id", "")))
    link_clinic(
        ctx.sessions,
        int(key or 0),
        email=email_of(client, identity.user_id),
        team_id=identity.team_id,
        enterprise_id=context.enterprise_id,
        user_id=identity.user_id,
    )
    client.views_publish(user_id=identity.user_id, view=home_for(ctx, client, identity))
