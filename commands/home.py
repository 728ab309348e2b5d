"""App Home: the history of the person's clinics' alerts, published when the Home tab opens, when the
clinic filter changes and when Next / Previous is pressed; in OAuth mode, a Link button for an Admin whose
clinic the operator created without a workspace."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.container import AppContext
from bot.ids import ActionId, BlockId, keyed, split_key
from bot.views import home_view
from bot.views.common import plain
from bot.views.home import HISTORY_DAYS, PAGE_SIZE, HomeClinic, HomePage, HomeQuery, HomeScheduled
from bot.views.templates import templates_section
from commands.context import app_context
from commands.gate import SlackIdentity, email_of, identity_of
from services import alerts, scheduled, templates
from services.authorization import Refusal, memberships, not_linked
from services.installations import UnlinkedClinic, link_clinic, unlinked_clinics


def home_for(
    ctx: AppContext, client: WebClient, identity: SlackIdentity, query: HomeQuery | None = None
) -> dict[str, Any]:
    """The Home view for one person: a page of their clinics' alerts of the last 90 days, or why none.

    Staff see the same history read-only; a `query` naming a clinic they are not in shows all of theirs.
    """
    now = ctx.clock.now()
    email = email_of(client, identity.user_id)
    with ctx.sessions() as session:
        mine = memberships(session, team_id=identity.team_id, user_id=identity.user_id, email=email)
        refusal = None if mine else not_linked(session, identity.team_id, email)
    if refusal is not None:
        view = home_view(None, now=now, notice=str(refusal))
        if ctx.installations is not None and refusal.reason == Refusal.WORKSPACE_NOT_LINKED:
            view["blocks"][1:1] = link_blocks(unlinked_clinics(ctx.sessions, email))
        return view
    query = query or HomeQuery()
    if query.clinic_id not in {m.clinic_id for m in mine}:
        query = HomeQuery(None, query.page)
    shown = [m.clinic_id for m in mine if query.clinic_id in (None, m.clinic_id)]
    found = alerts.recent_alerts(
        ctx.sessions,
        shown,
        now,
        limit=PAGE_SIZE + 1,
        since=now - timedelta(days=HISTORY_DAYS),
        offset=query.page * PAGE_SIZE,
    )
    admin_of = {m.clinic_id for m in mine if m.can_send}
    held = sorted(
        (a for clinic_id in shown for a in scheduled.list_scheduled(ctx.sessions, clinic_id)),
        key=lambda a: (a.start_at, a.id),
    )
    page = HomePage(
        clinics=[HomeClinic(m.clinic_id, m.clinic_name) for m in mine],
        items=found[:PAGE_SIZE],
        query=query,
        can_send=bool(admin_of),
        has_next=len(found) > PAGE_SIZE,
        scheduled=[HomeScheduled(a, a.clinic_id in admin_of) for a in held],
    )
    view = home_view(page, now=now)
    view["blocks"] += home_templates(ctx, [(m.clinic_id, m.clinic_name) for m in mine], len(view["blocks"]))
    return view


def home_templates(ctx: AppContext, clinics: list[tuple[int, str]], used: int) -> list[dict[str, Any]]:
    """The Templates section of the Home tab for these clinics, after `used` blocks (empty when none has a
    template)."""
    found = [
        (cid, name, [(t.name, t.text) for t in templates.list_templates(ctx.sessions, cid)])
        for cid, name in clinics
    ]
    return templates_section(found, used)


def republish(ctx: AppContext, client: WebClient, identity: SlackIdentity) -> None:
    """Publish the person's Home tab again, first page (after a change made from it)."""
    client.views_publish(user_id=identity.user_id, view=home_for(ctx, client, identity))


def publish_home(
    body: dict[str, Any], event: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    """app_home_opened on the Home tab: publish the person's history, first page."""
    if event.get("tab", "home") != "home":
        return
    identity = identity_of(body)
    client.views_publish(user_id=identity.user_id, view=home_for(app_context(context), client, identity))


def turn_page(
    ack: Callable[[], None], body: dict[str, Any], client: WebClient, context: dict[str, Any]
) -> None:
    """The clinic filter or a Next / Previous button: publish that page of the history."""
    ack()
    action = (body.get("actions") or [{}])[0]
    value = (action.get("selected_option") or {}).get("value") or action.get("value")
    identity = identity_of(body)
    view = home_for(app_context(context), client, identity, HomeQuery.parse(value))
    client.views_publish(user_id=identity.user_id, view=view)


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
    republish(ctx, client, identity)
