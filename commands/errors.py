"""What a person is told when their request fails, and where: the open modal, the channel or a DM.

Shared by the app's one error handler (errors before the answer to Slack) and by `answered_once`
(errors after it, when Slack has its 200 already and only a message can still reach the person).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.views import refusal_view
from services.errors import DomainError

log = logging.getLogger(__name__)

#: Bolt context key: the modal opened for this request (refusals are shown there).
LOADING_VIEW = "loading_view_id"
#: Bolt context key: set once the request's modal was closed (`response_action: clear`); tell elsewhere.
MODAL_CLOSED = "modal_closed"
#: Bolt context key: the channel to tell the person in when the body names none (the confirmation's).
TELL_IN_CHANNEL = "tell_in_channel"

#: Slack errors a person can act on, in their words.
SLACK_WORDS = {
    "expired_trigger_id": (
        "Slack took too long to open the form, so it expired. Please type /mass-alert again."
    ),
    "exchanged_trigger_id": "That form was already opened. Please type /mass-alert again.",
}


class MalformedRequest(Exception):
    """A signed request whose payload lacks what Slack always sends (answered 400 when still possible)."""


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


def log_error(error: Exception, body: dict[str, Any], error_id: str | None, message: str) -> None:
    """Unexpected errors with their id and traceback; refusals as one line."""
    if error_id is None:
        log.info("refused: %s", message)
        return
    kind = body.get("type") or body.get("command") or "Slack"
    log.error("error %s handling a %s request", error_id, kind, exc_info=error)


def _user_of(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    found = user.get("id") if isinstance(user, dict) else None
    event = body.get("event")
    return found or body.get("user_id") or (event.get("user") if isinstance(event, dict) else None)


def tell(client: WebClient, body: dict[str, Any], context: dict[str, Any], message: str) -> None:
    """Show `message` where the person is looking: the open modal, the channel (ephemeral) or a DM."""
    found = body.get("view")
    view: dict[str, Any] = found if isinstance(found, dict) else {}
    user = _user_of(body)
    modal_id = context.get(LOADING_VIEW) or (view.get("id") if view.get("type") == "modal" else None)
    if modal_id and not context.get(MODAL_CLOSED):
        client.views_update(view_id=modal_id, view=refusal_view(message))
        return
    channel_field = body.get("channel")
    channel = (
        (channel_field.get("id") if isinstance(channel_field, dict) else None)
        or body.get("channel_id")
        or context.get(TELL_IN_CHANNEL)
    )
    if channel and user:
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=message)
            return
        except SlackApiError as error:
            log.info("ephemeral notice failed (%s); sending a DM instead", error.response.get("error"))
    if user:
        dm = client.conversations_open(users=user)["channel"]["id"]
        client.chat_postMessage(channel=dm, text=message)


def report(error: Exception, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    """Log `error` and tell the person (a failure to tell is logged, never raised)."""
    message, error_id = user_message(error)
    log_error(error, body, error_id, message)
    try:
        tell(client, body, context, message)
    except Exception:
        log.exception("could not tell the user about: %s", message)
