"""Slack listeners: parse the payload, call one service, answer. `register` lists every one of them."""

from __future__ import annotations

import re

from slack_bolt import App

from bot.container import AppContext
from bot.ids import ActionId, CallbackId, keyed_pattern
from commands import activity, compose, confirm, conversations, home
from commands.compose_state import compose_clinic, confirm_clinic
from commands.context import share_context
from commands.envelope import checked_once, ignore_event
from commands.gate import require_sender
from commands.guard import answered_once

#: Matches every event type and action id: the catch-all listeners registered last.
ANYTHING = re.compile(".*")


def register(app: App, ctx: AppContext) -> None:
    """Put `ctx` into every request's context, check every request's shape, add every listener to `app`.

    Commands, shortcuts, actions and view submissions are wrapped in `answered_once` (one answer, on time,
    even when the listener fails after acking). Events and actions nothing else handles are acknowledged
    by the catch-all listeners registered last, so Slack never gets `404 unhandled request`.
    """
    app.use(share_context(ctx))
    app.use(checked_once)
    # Composing: /mass-alert, the shortcut and Home's button open it; picks and typing update it.
    app.command(compose.COMMAND)(answered_once(compose.open_compose))
    app.shortcut(str(CallbackId.SHORTCUT))(answered_once(compose.open_compose))
    app.action(str(ActionId.HOME_NEW_ALERT))(answered_once(compose.open_compose))
    for action_id in compose.RANGE_ACTIONS:
        app.action(str(action_id))(answered_once(compose.recount_view))
    app.action(str(ActionId.MESSAGE_INPUT))(answered_once(compose.restat_view))
    app.action(str(ActionId.SEE_WHO))(answered_once(compose.push_skipped))
    # Templates: picking one fills the message; saving is for senders of the modal's clinic.
    app.action(
        str(ActionId.TEMPLATE_SELECT), middleware=[require_sender(lambda body, _: compose_clinic(body))]
    )(answered_once(compose.pick_template))
    app.action(
        str(ActionId.TEMPLATE_SAVE), middleware=[require_sender(lambda body, _: compose_clinic(body))]
    )(answered_once(compose.save_template))
    # Review and Send: the person is authorized again, for the clinic the view is about.
    app.view(str(CallbackId.COMPOSE), middleware=[require_sender(lambda body, _: compose_clinic(body))])(
        answered_once(compose.review)
    )
    app.view(str(CallbackId.CONFIRM), middleware=[require_sender(lambda body, _: confirm_clinic(body))])(
        answered_once(confirm.send_alert)
    )
    # The activity entry's buttons; the Home tab.
    app.action(str(ActionId.CANCEL_ALERT), middleware=[require_sender(activity.alert_clinic)])(
        answered_once(activity.cancel_alert)
    )
    app.action(keyed_pattern(ActionId.CANCEL_SCHEDULED), middleware=[require_sender(activity.alert_clinic)])(
        answered_once(activity.cancel_scheduled)
    )
    app.action(str(ActionId.RESUME_ALERT), middleware=[require_sender(activity.alert_clinic)])(
        answered_once(activity.resume_alert)
    )
    app.action(str(ActionId.RETRY_ALERT), middleware=[require_sender(activity.alert_clinic)])(
        answered_once(activity.retry_alert)
    )
    app.action(keyed_pattern(ActionId.OPEN_REPORT))(answered_once(activity.ack_only))
    app.event("app_home_opened")(home.publish_home)
    for action_id in (ActionId.HOME_CLINIC_FILTER, ActionId.HOME_PREVIOUS, ActionId.HOME_NEXT):
        app.action(str(action_id))(home.turn_page)
    app.action(keyed_pattern(ActionId.HOME_LINK_CLINIC))(home.link_clinic_from_home)
    # Conversation threads: only users of the conversation's clinic answer or close them.
    app.event(
        "message", matchers=[conversations.is_thread_reply], middleware=[conversations.thread_of_clinic_user]
    )(conversations.queue_thread_reply)
    app.event("message", matchers=[conversations.is_thread_edit])(conversations.note_edited_answer)
    app.action(keyed_pattern(ActionId.CLOSE_CONVERSATION), middleware=[conversations.closer_is_clinic_user])(
        answered_once(conversations.close_conversation)
    )
    # Last: whatever no listener above took is still answered 200.
    app.action(ANYTHING)(answered_once(activity.ack_only))
    app.event(ANYTHING)(ignore_event)
