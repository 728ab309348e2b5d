"""App Home: the Activity list of the clinic's recent alerts, published when the Home tab opens."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.container import AppContext
from bot.views import home_view
from bot.views.templates import templates_section
from commands.context import app_context
from commands.gate import SlackIdentity, check_sender, identity_of
from services import alerts, templates
from services.authorization import NotAuthorized
from services.compose import clinic_facts

#: How many recent alerts the Home tab lists.
HOME_LIMIT = 20


def home_for(ctx: AppContext, client: WebClient, identity: SlackIdentity) -> dict[str, Any]:
    """The Home view for one person: their clinics' recent alerts, or why they have none."""
    now = ctx.clock.now()
    try:
        sender = check_sender(ctx, client, identity)
    except NotAuthorized as refusal:
        return home_view(None, [], "UTC", now=now, notice=str(refusal))
    snaps = alerts.recent_alerts(ctx.sessions, [c.clinic_id for c in sender.choices], now, limit=HOME_LIMIT)
    name = " · ".join(c.clinic_name for c in sender.choices)
    facts = clinic_facts(ctx.sessions, sender.choices[0].clinic_id, ctx.settings.alert_pace_seconds)
    view = home_view(name, snaps, facts.tz, now=now)
    view["blocks"] += home_templates(
        ctx, [(c.clinic_id, c.clinic_name) for c in sender.choices], len(view["blocks"])
    )
    return view


def home_templates(ctx: AppContext, clinics: list[tuple[int, str]], used: int) -> list[dict[str, Any]]:
    """The Templates section of the Home tab for these clinics, after `used` blocks (empty when none has a
    template)."""
    found = [
        (cid, name, [(t.name, t.text) for t in templates.list_templates(ctx.sessions, cid)])
        for cid, name in clinics
    ]
    return templates_section(found, used)


def publish_home(
    body: dict[str, Any], event: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    """app_home_opened on the Home tab: publish the person's Activity list."""
    if event.get("tab", "home") != "home":
        return
    identity = identity_of(body)
    client.views_publish(user_id=identity.user_id, view=home_for(app_context(context), client, identity))
