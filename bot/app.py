"""The Bolt app: signed requests only, the listeners of each command module, and one error handler."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

import commands
from bot.container import AppContext
from bot.oauth import forget_on_uninstall, oauth_flow
from bot.views import refusal_view
from commands.errors import MalformedRequest, log_error, tell, user_message

log = logging.getLogger(__name__)


def handle_error(
    error: Exception,
    body: dict[str, Any],
    context: dict[str, Any],
    client: WebClient,
    response: BoltResponse | None,
) -> BoltResponse | None:
    """Known errors become the person's message; others are logged with an id the person can quote.

    A malformed payload (MalformedRequest) is answered 400 and nobody is told anything.
    """
    if isinstance(error, MalformedRequest):
        log.warning("refused a malformed Slack request: %s", error)
        return BoltResponse(status=400, body=f"malformed request: {error}") if response is not None else None
    message, error_id = user_message(error)
    log_error(error, body, error_id, message)
    if body.get("type") == "view_submission" and response is not None:
        answer = {"response_action": "update", "view": refusal_view(message)}
        return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})
    try:
        tell(client, body, context, message)
    except Exception:
        log.exception("could not tell the user about: %s", message)
    return BoltResponse(status=200, body="") if response is not None else None


def create_app(ctx: AppContext) -> App:
    """The Bolt app over `ctx.client`; every HTTP request must carry a valid, fresh Slack signature.

    `bot.web.SlackRoute` verifies the signature (and the body's size and syntax) before Bolt sees the
    request; Bolt's own check stays on as a second line.
    """
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
