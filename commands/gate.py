"""Who is asking, and may they send: the Slack identity of a request and the permission check middleware."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.container import AppContext
from commands.context import app_context
from services.authorization import Authorized, ClinicChoice, authorize

log = logging.getLogger(__name__)

#: Where the middleware leaves its findings in Bolt's context.
SENDER = "sender"
IDENTITY = "identity"

#: Which clinic a request is about (read from its body, possibly with the database); None: any of theirs.
ClinicOf = Callable[[dict[str, Any], AppContext], "int | None"]


@dataclass(frozen=True)
class SlackIdentity:
    """The person behind one request: workspace, user, their home workspace and the channel used."""

    team_id: str
    user_id: str
    user_team_id: str | None = None
    channel_id: str | None = None


def identity_of(body: dict[str, Any]) -> SlackIdentity:
    """Read the identity once from a slash command, interaction or Events API body."""
    if "command" in body:
        return SlackIdentity(body["team_id"], body["user_id"], None, body.get("channel_id"))
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        return SlackIdentity(body["team_id"], event.get("user", ""), None, event.get("channel"))
    user = body.get("user") or {}
    team = body.get("team") or {}
    channel = (body.get("channel") or {}).get("id")
    return SlackIdentity(
        team.get("id") or user.get("team_id", ""), user.get("id", ""), user.get("team_id"), channel
    )


def email_of(client: WebClient, user_id: str) -> str | None:
    """The Slack account's email (users:read.email), or None when Slack does not share it."""
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        log.warning("users.info for %s failed: %s", user_id, error.response.get("error"))
        return None
    return (user.get("profile") or {}).get("email") or None


def check_sender(
    ctx: AppContext, client: WebClient, identity: SlackIdentity, clinic_id: int | None = None
) -> Authorized:
    """The clinics this person may send for (NotAuthorized says why not and what to do)."""
    email = email_of(client, identity.user_id)
    with ctx.sessions() as session:
        return authorize(
            session,
            team_id=identity.team_id,
            user_id=identity.user_id,
            email=email,
            channel_id=identity.channel_id,
            user_team_id=identity.user_team_id,
            clinic_id=clinic_id,
        )


def require_sender(clinic_of: ClinicOf | None = None) -> Callable[..., None]:
    """Listener middleware: authorize the person (for the clinic `clinic_of` names) before the listener."""

    def authorize_sender(
        body: dict[str, Any], client: WebClient, context: dict[str, Any], next: Callable[[], None]
    ) -> None:
        ctx = app_context(context)
        identity = identity_of(body)
        clinic_id = clinic_of(body, ctx) if clinic_of is not None else None
        context[IDENTITY] = identity
        context[SENDER] = check_sender(ctx, client, identity, clinic_id)
        next()

    return authorize_sender


def chosen(context: dict[str, Any]) -> ClinicChoice:
    """The clinic the middleware authorized (the first when it was not told which)."""
    sender: Authorized = context[SENDER]
    return sender.choices[0]
