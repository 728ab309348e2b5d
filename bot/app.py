"""The Bolt app: signed requests only, the listeners of each command module, and one error handler."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import commands
from bot.container import AppContext
from bot.oauth import forget_on_uninstall, oauth_flow
from bot.views import refusal_view
from commands.compose import LOADING_VIEW
from services.errors import DomainError

log = logging.getLogger(__name__)

#: Slack errors a person can act on, in their words.
SLACK_WORDS = {
    "expired_trigger_id": (
        "Slack took too long to open the form, so it expired. Please type /mass-alert again."
    ),
    "exchanged_trigger_id": "That form was already opened. Please type /mass-alert again.",
}


def user_message(error: Exception) -> tuple[str, str | None]:
    """(What to tell the person, the error id to quote or None) for any error a listener raised."""
    if isinstance(error, DomainError):
        return str(error), None
    if isinstance(error, SlackApiError) and error.response.get("error") in SLACK_WORDS:
        return SLACK_WORDS[str(error.response["error"])], None
    error_id = secrets.token_hex(4).upper()
    return (
        f"Something went wrong on our side (error {error_id}). Please try again; if it keeps happening, "
        f"give the error code {error_id} to whoever runs the Mass Text Alerts app."
    ), error_id


def _tell(client: WebClient, body: dict[str, Any], context: dict[str, Any], message: str) -> None:
    """Show `message` where the person is looking: the open modal, the channel (ephemeral) or a DM."""
    view = body.get("view") or {}
    user = (body.get("user") or {}).get("id") or body.get("user_id") or (body.get("event") or {}).get("user")
    modal_id = context.get(LOADING_VIEW) or (view.get("id") if view.get("type") == "modal" else None)
    if modal_id:
        client.views_update(view_id=modal_id, view=refusal_view(message))
        return
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
    if channel and user:
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=message)
            return
        except SlackApiError as error:
            log.info("ephemeral notice failed (%s); sending a DM instead", error.response.get("error"))
    if user:
        dm = client.conversations_open(users=user)["channel"]["id"]
        client.chat_postMessage(channel=dm, text=message)


def handle_error(
    error: Exception,
    body: dict[str, Any],
    context: dict[str, Any],
    client: WebClient,
    response: BoltResponse | None,
) -> BoltResponse | None:
    """Known errors become the person's message; others are logged with an id the person can quote."""
    message, error_id = user_message(error)
    if error_id is not None:
        log.error(
            "error %s handling a %s request",
            error_id,
            body.get("type") or body.get("command") or "Slack",
            exc_info=error,
        )
    else:
        log.info("refused: %s", message)
    if body.get("type") == "view_submission" and response is not None:
        answer = {"response_action": "update", "view": refusal_view(message)}
        return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})
    try:
        _tell(client, body, context, message)
    except Exception:
        log.exception("could not tell the user about: %s", message)
    return BoltResponse(status=200, body="") if response is not None else None


def create_app(ctx: AppContext) -> App:
    """The Bolt app over `ctx.client`; every HTTP request must carry a valid, fresh Slack signature."""
    if ctx.installations is not None:
        return create_oauth_app(ctx)
    app = App(
        client=ctx.slack,
        signing_secret=ctx.settings.slack_signing_secret or "",
        request_verification_enabled=True,
        token_verification_enabled=False,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("slack_bolt.app"),
    )
    app.error(handle_error)
    commands.register(app, ctx)
    return app


def create_oauth_app(ctx: AppContext) -> App:
    """OAuth mode: Bolt authorizes each request with its workspace's installation (team or Enterprise
    Grid org), serves /slack/install and /slack/oauth_redirect, and forgets a workspace's tokens on
    app_uninstalled and tokens_revoked (Bolt's token revocation listeners)."""
    assert ctx.installations is not None
    app = App(
        client=ctx.slack,
        signing_secret=ctx.settings.slack_signing_secret or "",
        oauth_flow=oauth_flow(ctx.settings, ctx.installations.engine, ctx.installations),
        installation_store=ctx.installations,
        request_verification_enabled=True,
        token_verification_enabled=False,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("slack_bolt.app"),
    )
    forget_on_uninstall(app, ctx.installations)
    app.error(handle_error)
    commands.register(app, ctx)
    return app
