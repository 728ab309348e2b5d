"""The activity entry in the channel: progress while sending, then green or red with the report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject

from bot.ids import ActionId, BlockId, keyed
from bot.views.common import clip, context, escape, mrkdwn_section, plain, quote
from bot.views.wording import (
    counted_when_scheduled,
    format_estimate,
    format_span,
    format_time,
    format_when,
    not_texted,
    paused_for_quiet_hours,
    plural,
    progress_bar,
    scheduled_for,
    texted,
)
from services.models import SkipReason
from services.notify import AlertSnapshot

#: How much of the message the channel entry quotes (the report has it whole).
QUOTE_LIMIT = 1200


def _cancel_button(alert: AlertSnapshot) -> ButtonElement:
    remaining = alert.pending
    return ButtonElement(
        text=plain("Cancel alert", 75),
        action_id=ActionId.CANCEL_ALERT,
        value=str(alert.id),
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


def cancel_scheduled_button(alert_id: int, when: str) -> ButtonElement:
    """Cancel on a scheduled alert's entry and in App Home (admins of its clinic), behind a confirm dialog;
    `when` is its start time as shown."""
    return ButtonElement(
        text=plain("Cancel", 75),
        action_id=keyed(ActionId.CANCEL_SCHEDULED, alert_id),  # unique among Home's several
        value=str(alert_id),
        style="danger",
        confirm=ConfirmObject(
            title=plain("Cancel this scheduled alert?", 100),
            text=plain(f"Mass text alert #{alert_id} will not start at {when}; nobody is texted.", 300),
            confirm=plain("Cancel alert", 30),
            deny=plain("Keep it", 30),
            style="danger",
        ),
    )


def _resume_button(alert: AlertSnapshot) -> ButtonElement:
    """Resume on a stopped entry: once the cause is fixed, the clients never handed to Twilio get the text."""
    return ButtonElement(
        text=plain("Resume", 75),
        action_id=ActionId.RESUME_ALERT,
        value=str(alert.id),
        style="primary",
        confirm=ConfirmObject(
            title=plain("Resume this alert?", 100),
            text=plain(
                "Only clients who were never texted get the text now; nobody already sent is texted "
                "twice, and clients who opted out meanwhile are left out. Resume once the problem above "
                "is fixed.",
                300,
            ),
            confirm=plain("Resume", 30),
            deny=plain("Not yet", 30),
        ),
    )


def _retry_blocks(alert: AlertSnapshot) -> list[Block]:
    """A retry's link to the alert it retries; on a finished alert with clients worth texting again, the
    "Text the N not reached" button (with a confirm dialog)."""
    blocks: list[Block] = []
    if alert.retry_of is not None:
        number, original = alert.retry_number, alert.retry_of
        line = f"↩️ Retry #{number} of mass text alert #{original}: the clients it did not reach"
        blocks.append(context(line, block_id=BlockId.ACTIVITY_RETRY_OF))
    if alert.finished and alert.not_reached:
        label = f"Text the {alert.not_reached:,} not reached"
        button = ButtonElement(
            text=plain(label, 75),
            action_id=ActionId.RETRY_ALERT,
            value=str(alert.id),
            confirm=ConfirmObject(
                title=plain("Text them again?", 100),
                text=plain(
                    f"{plural(alert.not_reached, 'client')} whose text failed for a reason that may pass "
                    "(phone off, carrier trouble, expired) get the same text again as a new alert. "
                    "Nobody already reached, opted out or with an invalid number is texted.",
                    300,
                ),
                confirm=plain("Text them", 30),
                deny=plain("Not now", 30),
            ),
        )
        blocks.append(ActionsBlock(block_id=BlockId.ACTIVITY_RETRY, elements=[button]))
    return blocks


def _time_left(alert: AlertSnapshot, now: datetime) -> str:
    if alert.eta is None:
        return ""
    seconds = (alert.eta - now).total_seconds()
    return f" · {format_estimate(seconds)} left" if seconds > 0 else " · finishing"


def _status(s: AlertSnapshot, now: datetime) -> tuple[str, str, bool]:
    """(fallback text, status mrkdwn, show the cancel button); both texts escaped.

    Every count is the snapshot's: `texted` is the denominator of "sent" and "failed" alike.
    """
    total = s.texted
    done = s.sent + s.failed
    failed = f" · {s.failed:,} failed" if s.failed else ""
    report = " · report below" if s.report_permalink else ""
    if s.state in ("queued", "sending") and s.paused_until is not None and s.paused_zone is not None:
        paused = paused_for_quiet_hours(s.paused_until, s.paused_zone, now, s.pending)
        if s.state == "queued":
            return paused, f"⏸️ {paused}", True
        text = f"`{progress_bar(done, total)}`  {s.sent:,} of {total:,} sent{failed}\n⏸️ {paused}"
        return f"{s.sent:,} of {total:,} sent{failed} · {paused}", text, True
    if s.state == "queued":
        text = f"⏳ Queued · {plural(total, 'text')} to send{_time_left(s, now)}"
        return f"Queued: {plural(total, 'text')} to send", text, True
    if s.state == "sending":
        text = f"`{progress_bar(done, total)}`  {s.sent:,} of {total:,} sent{failed}{_time_left(s, now)}"
        return f"{s.sent:,} of {total:,} sent{failed}", text, True
    if s.never_started:
        return _never_started(s)
    if s.state == "cancelled":
        who = f" by {escape(s.cancelled_by)}" if s.cancelled_by else ""
        cancelled = s.not_texted_reasons.get(str(SkipReason.CANCELLED), 0)
        text = (
            f"⏹️ *Cancelled{who}* · {s.sent:,} of {total:,} sent{failed} · "
            f"{plural(cancelled, 'client')} not texted{report}"
        )
        return f"Cancelled{who}: {s.sent:,} of {total:,} sent", text, False
    if s.state == "failed":
        reason = escape(s.error or "the alert could not be sent")
        text = f"🔴 *Alert stopped*: {reason} · {s.sent:,} of {total:,} sent{failed}{report}"
        return f"Alert stopped: {reason}", text, False
    finished = f" · finished {format_time(s.completed_at, s.timezone)}" if s.completed_at else ""
    if s.failed == 0:
        text = f"✅ *All {plural(total, 'text')} sent*{finished}{report}"
        if total == 0:
            text = f"✅ *Nothing to send*: no client could be texted{finished}{report}"
        return f"All {plural(total, 'text')} sent", text, False
    why = f" · {escape(s.failure_summary)}" if s.failure_summary else ""
    who_why = " · report below: who and why" if s.report_permalink else ""
    text = f"🔴 *{s.failed:,} of {total:,} failed* · {s.sent:,} sent{why}{finished}{who_why}"
    return f"{s.failed:,} of {total:,} failed · {s.sent:,} sent", text, False


def _never_started(s: AlertSnapshot) -> tuple[str, str, bool]:
    """A scheduled alert's status before it started: waiting, cancelled or stopped when its time came."""
    if s.state == "cancelled":
        who = f" by {escape(s.cancelled_by)}" if s.cancelled_by else ""
        return (
            f"Cancelled{who} before it started",
            f"⏹️ *Cancelled{who}* before it started · nobody was texted",
            False,
        )
    if s.state == "failed":
        reason = escape(s.error or "the alert could not be started")
        return f"Alert stopped: {reason}", f"🔴 *Alert stopped*: {reason} · nobody was texted", False
    text = "🕘 Waiting for its start time; nothing is sent before then."
    return f"Scheduled for {_start(s)}", text, False


def _start(s: AlertSnapshot) -> str:
    return format_when(s.start_at or s.created_at, s.timezone)


def counts_line(s: AlertSnapshot) -> str:
    """`42 clients to be texted · 3 not texted: 2 opted out, 1 has no mobile number` (mrkdwn-safe)."""
    line = texted(s.texted, finished=s.finished)
    if s.not_texted:
        line += f" · {escape(not_texted(s.not_texted, dict(s.not_texted_reasons)))}"
    return line


def activity_message(alert: AlertSnapshot, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) of the channel entry for one alert, in any state, as of `now` (aware)."""
    s = alert
    by = escape(s.created_by_name)
    if s.never_started:
        header = f"🕘 *Mass text alert #{s.id}* {scheduled_for(_start(s), by)}"
    else:
        header = (
            f"📣 *Mass text alert #{s.id}* · by {by} · {format_time(s.start_at or s.created_at, s.timezone)}"
        )
    scope = []
    if s.first_appointment and s.last_appointment:
        scope.append(f"Appointments {format_span(s.first_appointment, s.last_appointment, s.timezone)}")
    if s.state == "scheduled":
        scope.append(counted_when_scheduled(s.scheduled_count))
    elif not s.never_started:
        scope.append(counts_line(s))
    fallback, status, cancellable = _status(s, now)
    blocks: list[Block] = [
        mrkdwn_section(header, BlockId.ACTIVITY_HEADER),
        mrkdwn_section(quote(s.message, QUOTE_LIMIT), BlockId.ACTIVITY_MESSAGE),
    ]
    if scope:
        blocks.append(context(" · ".join(scope), block_id=BlockId.ACTIVITY_SCOPE))
    if s.state == "scheduled":
        button = cancel_scheduled_button(s.id, _start(s))
        blocks.append(mrkdwn_section(status, BlockId.ACTIVITY_STATUS, accessory=button))
    elif cancellable:
        blocks.append(mrkdwn_section(status, BlockId.ACTIVITY_STATUS, accessory=_cancel_button(s)))
    elif s.state == "failed" and not s.never_started:
        blocks.append(mrkdwn_section(status, BlockId.ACTIVITY_STATUS, accessory=_resume_button(s)))
    else:
        blocks.append(mrkdwn_section(status, BlockId.ACTIVITY_STATUS))
    blocks += _retry_blocks(s)
    if s.report_permalink:
        link = f"📎 <{s.report_permalink}|Open the report> (CSV: who was texted, who was not and why)"
        blocks.append(context(link, block_id=BlockId.ACTIVITY_REPORT))
    text = clip(f"Mass text alert #{s.id} by {escape(s.created_by_name)}: {fallback}", 3000)
    return text, [block.to_dict() for block in blocks]


def report_comment(alert: AlertSnapshot) -> str:
    """The upload's comment, in the entry's counts: `📎 Report of mass text alert #12: 23 clients texted,
    2 failed · 5 not texted. Who and why is in the file.`"""
    counts = texted(alert.texted, finished=True)
    if alert.failed:
        counts += f", {alert.failed:,} failed"
    if alert.not_texted:
        counts += f" · {alert.not_texted:,} not texted"
    return f"📎 Report of mass text alert #{alert.id}: {counts}. Who and why is in the file."
