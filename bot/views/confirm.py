"""The pushed confirmation view: recipients, span, ETA at the clinic's pace, and the message."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.ids import BlockId, CallbackId
from bot.views.common import context, escape, mrkdwn_section, plain, quote
from bot.views.models import ConfirmState
from bot.views.wording import format_pace, format_span, format_time, plural, texts_per_client


def confirm_view(state: ConfirmState) -> dict[str, Any]:
    """The "Send 42 texts" step pushed on top of the compose form."""
    who = f"*{plural(state.recipients, 'client')}*"
    if state.first_appointment and state.last_appointment:
        span = format_span(state.first_appointment, state.last_appointment, state.tz)
        summary = f"Send this text to {who} with appointments {span}?"
    else:
        summary = f"Send this text to {who}?"
    details = [f"From *{escape(state.clinic_name)}*."]
    if state.skipped:
        details.append(f"{plural(state.skipped, 'client')} in the range will not be texted.")
    if state.segments > 1:
        details.append(f"{texts_per_client(state.segments).capitalize()}.")
    pace = format_pace(state.pace_seconds)
    if state.eta is not None:
        pace += f": done around {format_time(state.eta, state.tz)}."
    else:
        pace += "."
    where = f"<#{state.channel_id}>" if state.channel_id else "this channel"
    replies = f"Replies will reach {where} as conversations."
    blocks: list[Block] = [
        mrkdwn_section(summary, BlockId.CONFIRM_SUMMARY),
        mrkdwn_section(quote(state.message), BlockId.CONFIRM_MESSAGE),
        context(" ".join(details), f"{pace} {replies}", block_id=BlockId.CONFIRM_ETA),
    ]
    view = View(
        type="modal",
        callback_id=str(CallbackId.CONFIRM),
        title=plain("Confirm alert", 24),
        submit=plain(f"Send {plural(state.recipients, 'text')}", 24),
        close=plain("Back", 24),
        blocks=blocks,
        private_metadata=state.private_metadata or None,
    )
    return view.to_dict()
