"""The activity entry in the channel: progress while sending, then green or red with the report."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ButtonElement, ConfirmObject

from bot.ids import ActionId, BlockId
from bot.views.common import (
    clip,
    context,
    escape,
    format_duration,
    format_span,
    format_time,
    mrkdwn_section,
    plain,
    plural,
    progress_bar,
    quote,
)
from bot.views.models import ActivitySnapshot

#: How much of the message the channel entry quotes (the report has it whole).
QUOTE_LIMIT = 1200
ACTIVE_STATES = frozenset({"queued", "sending"})


def _cancel_button(snapshot: ActivitySnapshot) -> ButtonElement:
    remaining = snapshot.pending
    return ButtonElement(
        text=plain("Cancel alert", 75),
        action_id=ActionId.CANCEL_ALERT,
        value=str(snapshot.alert_id),
        style="danger",
        confirm=ConfirmObject(
            title=plain("Cancel this alert?", 100),
            text=plain(
                f"The {plural(remaining, 'client')} not texted yet will not be texted. "
                "Texts already sent cannot be recalled.",
                300,
            ),
            confirm=plain("Cancel alert", 30),
            deny=plain("Keep sending", 30),
            style="danger",
        ),
    )


def _time_left(snapshot: ActivitySnapshot) -> str:
    if snapshot.eta is None:
        return ""
    seconds = (snapshot.eta - snapshot.as_of).total_seconds()
    return f" · {format_duration(seconds)} left" if seconds > 0 else " · finishing"


def _status(snapshot: ActivitySnapshot) -> tuple[str, str, bool]:
    """(fallback text, status mrkdwn, show the cancel button)."""
    s, total = snapshot, snapshot.to_send
    done = s.sent + s.failed
    failed = f" · {s.failed:,} failed" if s.failed else ""
    report = " · report below" if s.report_permalink else ""
    if s.state == "queued":
        text = f"⏳ Queued · {plural(total, 'text')} to send{_time_left(s)}"
        return f"Queued: {plural(total, 'text')} to send", text, True
    if s.state == "sending":
        text = f"`{progress_bar(done, total)}`  {s.sent:,} of {total:,} sent{failed}{_time_left(s)}"
        return f"{s.sent:,} of {total:,} sent{failed}", text, True
    if s.state == "cancelled":
        who = f" by {escape(s.cancelled_by)}" if s.cancelled_by else ""
        not_sent = max(0, total - done)
        text = (
            f"⏹️ *Cancelled{who}* · {s.sent:,} of {total:,} sent{failed} · "
            f"{plural(not_sent, 'client')} not texted{report}"
        )
        return f"Cancelled: {s.sent:,} of {total:,} sent", text, False
    if s.state == "failed":
        reason = escape(s.error or "the alert could not be sent")
        text = f"🔴 *Alert stopped*: {reason} · {s.sent:,} of {total:,} sent{failed}{report}"
        return f"Alert stopped: {s.error or 'could not be sent'}", text, False
    finished = f" · finished {format_time(s.completed_at, s.tz)}" if s.completed_at else ""
    if s.failed == 0:
        text = f"✅ *All {plural(total, 'text')} sent*{finished}{report}"
        if total == 0:
            text = f"✅ *Nothing to send*: no client could be texted{finished}{report}"
        return f"All {plural(total, 'text')} sent", text, False
    why = f" · {escape(s.failure_summary)}" if s.failure_summary else ""
    who_why = " · report below: who and why" if s.report_permalink else ""
    text = f"🔴 *{s.failed:,} of {total:,} failed* · {s.sent:,} sent{why}{finished}{who_why}"
    return f"{s.failed:,} of {total:,} failed · {s.sent:,} sent", text, False


def activity_message(snapshot: ActivitySnapshot) -> tuple[str, list[dict]]:
    """(fallback text, blocks) of the channel entry for one alert, in any state."""
    s = snapshot
    header = (
        f"📣 *Mass text alert #{s.alert_id}* · by {escape(s.created_by_name)} · "
        f"{format_time(s.created_at, s.tz)}"
    )
    scope = []
    if s.first_appointment and s.last_appointment:
        scope.append(f"Appointments {format_span(s.first_appointment, s.last_appointment, s.tz)}")
    clients = plural(s.total_clients, "client")
    if s.skipped_count:
        clients += f" ({s.skipped_count:,} not texted)"
    scope.append(clients)
    fallback, status, cancellable = _status(s)
    blocks: list[Block] = [
        mrkdwn_section(header, BlockId.ACTIVITY_HEADER),
        mrkdwn_section(quote(s.message, QUOTE_LIMIT), BlockId.ACTIVITY_MESSAGE),
        context(" · ".join(scope), block_id=BlockId.ACTIVITY_SCOPE),
    ]
    if cancellable:
        blocks.append(mrkdwn_section(status, BlockId.ACTIVITY_STATUS, accessory=_cancel_button(s)))
    else:
        blocks.append(mrkdwn_section(status, BlockId.ACTIVITY_STATUS))
    if s.report_permalink:
        link = f"📎 <{s.report_permalink}|Open the report> (CSV: who was texted, who was not and why)"
        blocks.append(context(link, block_id=BlockId.ACTIVITY_REPORT))
    text = clip(f"Mass text alert #{s.alert_id} by {s.created_by_name}: {fallback}", 3000)
    return text, [block.to_dict() for block in blocks]
