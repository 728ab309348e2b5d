"""Slack listeners: parse the payload, call one service, answer. `register` lists every one of them."""

from __future__ import annotations

from slack_bolt import App

from bot.container import AppContext
from bot.ids import ActionId, CallbackId, keyed_pattern
from commands import activity, compose, confirm, conversations, home
from commands.compose_state import compose_clinic, confirm_clinic
from commands.context import share_context
from commands.gate import require_sender


def register(app: App, ctx: AppContext) -> None:
    """Put `ctx` into every request's context (one global middleware) and add every listener to `app`."""
    app.use(share_context(ctx))
    # Composing: /mass-alert, the shortcut and Home's button open it; picks and typing update it.
    app.command(compose.COMMAND)(compose.open_compose)
    app.shortcut(str(CallbackId.SHORTCUT))(compose.open_compose)
    app.action(str(ActionId.HOME_NEW_ALERT))(compose.open_compose)
    for action_id in compose.RANGE_ACTIONS:
        app.action(str(action_id))(compose.recount_view)
    app.action(str(ActionId.MESSAGE_INPUT))(compose.restat_view)
    app.action(str(ActionId.SEE_WHO))(compose.push_skipped)
    # Templates: picking one fills the message; saving is for senders of the modal's clinic.
    app.action(
        str(ActionId.TEMPLATE_SELECT), middleware=[require_sender(lambda body, _: compose_clinic(body))]
    )(compose.pick_template)
    app.action(
        str(ActionId.TEMPLATE_SAVE), middleware=[require_sender(lambda body, _: compose_clinic(body))]
    )(compose.save_template)
    # Review and Send: the person is authorized again, for the clinic the view is about.
    app.view(str(CallbackId.COMPOSE), middleware=[require_sender(lambda body, _: compose_clinic(body))])(
        compose.review
    )
    app.view(str(CallbackId.CONFIRM), middleware=[require_sender(lambda body, _: confirm_clinic(body))])(
        confirm.send_alert
    )
    # The activity entry's buttons; the Home tab.
    app.action(str(ActionId.CANCEL_ALERT), middleware=[require_sender(activity.alert_clinic)])(
        activity.cancel_alert
    )
    app.action(str(ActionId.RETRY_ALERT), middleware=[require_sender(activity.alert_clinic)])(
        activity.retry_alert
    )
    app.action(keyed_pattern(ActionId.OPEN_REPORT))(activity.ack_only)
    app.event("app_home_opened")(home.publish_home)
    # Conversation threads: only users of the conversation's clinic answer or close them.
    app.event(
        "message", matchers=[conversations.is_thread_reply], middleware=[conversations.thread_of_clinic_user]
    )(conversations.queue_thread_reply)
    app.event("message", matchers=[conversations.is_thread_edit])(conversations.note_edited_answer)
    app.action(keyed_pattern(ActionId.CLOSE_CONVERSATION), middleware=[conversations.closer_is_clinic_user])(
        conversations.close_conversation
    )
