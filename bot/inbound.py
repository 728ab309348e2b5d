"""The /twilio/inbound handler: a verified form in, the service called, Slack told, TwiML out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from xml.sax.saxutils import escape

from bot.container import AppContext
from bot.conversation_relay import ConversationRelay
from services.conversations import InboundResult, handle_inbound
from services.conversations.inbound import MediaRef

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twiml(message: str | None) -> str:
    """An empty <Response/>, or one <Message> with `message` XML-escaped."""
    if not message:
        return EMPTY_TWIML
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(message)}</Message></Response>'


def _media(form: dict[str, str]) -> tuple[MediaRef, ...]:
    """The MMS files of the webhook: MediaUrlN with MediaContentTypeN, N from 0 to NumMedia - 1."""
    count = int(form["NumMedia"]) if form.get("NumMedia", "").isdigit() else 0
    found = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if url:
            kind = form.get(f"MediaContentType{index}") or "application/octet-stream"
            found.append(MediaRef(url, kind))
    return tuple(found)


def _with_media(form: dict[str, str]) -> str:
    """The text, noting pictures or files (MMS); the relay uploads those it can read into the thread."""
    body = form.get("Body", "")
    count = int(form["NumMedia"]) if form.get("NumMedia", "").isdigit() else 0
    if count:
        where = "" if _media(form) else "; see Twilio"
        note = f"[{count} picture{'s' if count > 1 else ''} or file{'s' if count > 1 else ''} sent{where}]"
        body = f"{body}\n{note}" if body else note
    return body


def keyword_reply(result: InboundResult, opt_out_replies: str) -> str | None:
    """The confirmation the app sends itself: none for STOP/START/HELP when Twilio answers them
    (TWILIO_OPT_OUT_REPLIES=twilio, Twilio's default opt-out handling), so the client gets exactly one."""
    if result.duplicate or (result.keyword is not None and opt_out_replies != "app"):
        return None
    return result.reply


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
            opt_out_type=form.get("OptOutType") or None,
            media=_media(form),
        )
        if relay is not None and not result.duplicate:
            try:
                relay.after_inbound(result)
            except Exception:
                log.exception("relaying inbound text %s to Slack", result.message_id)
        return twiml(keyword_reply(result, ctx.settings.twilio_opt_out_replies))

    return handle
