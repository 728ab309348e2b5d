"""The /twilio/inbound handler: a verified form in, the service called, Slack told, TwiML out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from xml.sax.saxutils import escape

from bot.container import AppContext
from bot.conversation_relay import ConversationRelay
from services.conversations import InboundResult, handle_inbound

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twiml(message: str | None) -> str:
    """An empty <Response/>, or one <Message> with `message` XML-escaped."""
    if not message:
        return EMPTY_TWIML
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(message)}</Message></Response>'


def _with_media(form: dict[str, str]) -> str:
    """The text, noting pictures or files (MMS) that Slack does not show."""
    body = form.get("Body", "")
    count = int(form["NumMedia"]) if form.get("NumMedia", "").isdigit() else 0
    if count:
        note = (
            f"[{count} picture{'s' if count > 1 else ''} or file{'s' if count > 1 else ''} sent; see Twilio]"
        )
        body = f"{body}\n{note}" if body else note
    return body


def make_inbound_handler(
    ctx: AppContext, relay: ConversationRelay | None = None
) -> Callable[[dict[str, str]], str]:
    """The callable TwilioRoutes(inbound=...) runs with each verified inbound-SMS form."""

    def handle(form: dict[str, str]) -> str:
        result: InboundResult = handle_inbound(
            ctx.sessions,
            clinic_number=form.get("To", ""),
            from_number=form.get("From", ""),
            body=_with_media(form),
            message_sid=form.get("MessageSid") or form.get("SmsSid") or "",
            messaging_service_sid=form.get("MessagingServiceSid") or None,
            now=ctx.clock.now(),
        )
        if relay is not None and not result.duplicate:
            try:
                relay.after_inbound(result)
            except Exception:
                log.exception("relaying inbound text %s to Slack", result.message_id)
        return twiml(None if result.duplicate else result.reply)

    return handle
