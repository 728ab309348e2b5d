"""The pushed confirmation view: recipients, span, ETA at the clinic's pace, and the message."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.ids import BlockId, CallbackId
from bot.views.common import context, escape, mrkdwn_section, plain, quote
from bot.views.models import ChannelAccess, ConfirmState
from bot.views.wording import (
    BOT_MENTION,
    done_around,
    format_pace,
    format_span,
    paused_overnight,
    plural,
    skipped_summary,
    texts_per_client,
    urgent_words,
)


def _not_in_channel(channel_id: str) -> str:
    """The warning shown before Send when the bot cannot post in the clinic's channel."""
    return (
        f"⚠️ *I am not in <#{channel_id}>*, so I cannot post the progress, the outcome or the report "
        f"there. Open <#{channel_id}>, type `/invite {BOT_MENTION}`, then click Send. If you send now, "
        "I will tell you by direct message instead."
    )


def _quiet_hours(state: ConfirmState) -> str | None:
    """Urgent: the window it ignores; else the pause the window makes, when it makes one."""
    hours = state.sending_hours
    if hours is None or hours.all_day:
        return None
    if state.urgent:
        return f"🚨 *{urgent_words(hours)}*"
    if state.held and state.resumes_at is not None and state.resumes_zone is not None:
        now = state.as_of or state.resumes_at
        return f"🌙 {paused_overnight(state.held, state.resumes_at, state.resumes_zone, now, hours)}"
    return None


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
        reasons = skipped_summary(state.skipped_by_reason)
        why = f": {reasons}" if reasons else ""
        details.append(f"{plural(state.skipped, 'client')} in the range will not be texted{why}.")
    if state.segments > 1:
        details.append(f"{texts_per_client(state.segments).capitalize()}.")
    pace = format_pace(state.pace_seconds)
    if state.eta is not None:
        pace += f": {done_around(state.eta, state.as_of, state.tz)}."
    else:
        pace += "."
    if state.channel_id:
        where = f"<#{state.channel_id}>"
        replies = f"Progress, the outcome and the report go to {where}; replies reach it as conversations."
    else:
        replies = (
            f"*{escape(state.clinic_name)}* has no Slack channel linked: progress, the outcome and the "
            "report will reach you by direct message."
        )
    blocks: list[Block] = [
        mrkdwn_section(summary, BlockId.CONFIRM_SUMMARY),
        mrkdwn_section(quote(state.message), BlockId.CONFIRM_MESSAGE),
        context(" ".join(details), f"{pace} {replies}", block_id=BlockId.CONFIRM_ETA),
    ]
    quiet = _quiet_hours(state)
    if quiet is not None:
        blocks.append(mrkdwn_section(quiet, BlockId.CONFIRM_QUIET_HOURS))
    if state.channel_id and state.channel_access in (ChannelAccess.NOT_MEMBER, ChannelAccess.NOT_VISIBLE):
        blocks.append(mrkdwn_section(_not_in_channel(state.channel_id), BlockId.CONFIRM_CHANNEL))
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
