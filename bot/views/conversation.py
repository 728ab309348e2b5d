"""The messages of a conversation's Slack thread: its first message (who wrote, their pets, the alert
answered, Close), each reply, what a keyword did, and a staff answer's delivery line; the direct message
carrying replies the channel refused; notes about attachments and edits of staff answers.

Everything a client typed or the clinic's data holds (names, pets, phone numbers, texts, the alert) is
escaped in every field, blocks and notification text alike, so Slack parses no markup in it.
"""

from __future__ import annotations

import re

from slack_sdk.models.blocks import Block, ButtonElement, ConfirmObject

from bot.ids import ActionId, BlockId
from bot.slack_text import clip_escaped
from bot.views.common import SECTION_TEXT_MAX, clip, context, escape, mrkdwn_section, plain
from bot.views.wording import format_time
from services.conversations import ACTIVE, Keyword, StaffReply, ThreadHeader, parse_keyword

#: How much of the alert a reply answers the thread's first message quotes, in characters.
ALERT_QUOTE_LIMIT = 140
#: The notification text of a thread's first message, in characters.
ROOT_TEXT_LIMIT = 300
#: A Slack user id as it may appear in a mention (only ids Slack itself gave us are ever mentioned).
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
#: How to bring the bot back into a channel, as Slack's slash command is typed.
INVITE = "/invite @Mass Text Alerts"


def _who(header: ThreadHeader) -> str:
    return header.client_name or header.phone


def _first_name(name: str) -> str:
    return name.split()[0] if name and not name.startswith("+") else name


def _title(header: ThreadHeader) -> str:
    if header.unknown_contact:
        return f"💬 *Text from an unknown number* {escape(header.phone)} (no client on file)"
    pets = f" ({escape(', '.join(header.pets))})" if header.pets else ""
    what = "Reply" if header.alert_id is not None else "Text"
    to_alert = f" to mass alert #{header.alert_id}" if header.alert_id is not None else ""
    return f"💬 *{what} from {escape(header.client_name or header.phone)}*{pets}{to_alert}"


def close_button(conversation_id: int) -> ButtonElement:
    """The Close button; its value is the conversation id."""
    return ButtonElement(
        text=plain("Close conversation", 75),
        action_id=ActionId.CLOSE_CONVERSATION,
        value=str(conversation_id),
        confirm=ConfirmObject(
            title=plain("Close this conversation?", 100),
            text=plain("Their next text will open a new conversation.", 300),
            confirm=plain("Close", 30),
            deny=plain("Keep open", 30),
        ),
    )


def root_blocks(header: ThreadHeader, body: str | None, *, closed_by: str | None = None) -> list[Block]:
    """The thread's first message: who wrote, their pets, the alert answered, the text, and Close."""
    open_ = header.status == ACTIVE
    title = mrkdwn_section(
        _title(header),
        block_id=BlockId.CONVERSATION_ROOT,
        accessory=close_button(header.conversation_id) if open_ else None,
    )
    blocks: list[Block] = [title]
    if body:
        blocks.append(mrkdwn_section(quote(body), block_id=BlockId.CONVERSATION_QUOTE))
    details = [escape(header.phone)]
    if header.other_clients:
        details.append(f"Also on this number: {escape(', '.join(header.other_clients))}")
    if header.alert_message:
        details.append(f"Alert: “{escape(clip(header.alert_message, ALERT_QUOTE_LIMIT))}”")
    lines = [" · ".join(details)]
    if not open_:
        who = f" by <@{closed_by}>" if closed_by and _USER_ID.fullmatch(closed_by) else ""
        when = f" at {format_time(header.closed_at, header.timezone)}" if header.closed_at else ""
        lines.append(f"🔒 Closed{who}{when}. Their next text opens a new conversation.")
    elif header.opted_out:
        lines.append("🚫 Opted out of texts: answers here are not sent until they reply START.")
    else:
        lines.append(
            f"Answers typed in this thread are texted to {escape(_first_name(_who(header)))} "
            "ahead of any alert texts."
        )
    blocks.append(context(*lines, block_id=BlockId.CONVERSATION_CONTEXT))
    return blocks


def quote(text: str, limit: int = SECTION_TEXT_MAX) -> str:
    """A client's text as a mrkdwn block quote, escaped and clipped to fit a section (never inside an
    escape)."""
    lines = escape(text).splitlines() or [""]
    return clip_escaped("\n".join(f">{line}" for line in lines), limit)


def root_text(header: ThreadHeader, body: str | None) -> str:
    """The notification text of the thread's first message (escaped: a client's `<!channel>` pings nobody)."""
    head = "Text from an unknown number" if header.unknown_contact else f"Reply from {_who(header)}"
    return clip_escaped(escape(f"{head}: {body}" if body else head), ROOT_TEXT_LIMIT)


def keyword_line(name: str, word: str, keyword: Keyword, clinic: str) -> str:
    """What a STOP / START / HELP text did, for the channel."""
    who = f"*{escape(name)}* replied {escape(word)}"
    if keyword == Keyword.STOP:
        return (
            f"🚫 {who}: opted out of texts from {escape(clinic)}. New alerts skip them and answers are "
            "not sent until they reply START."
        )
    if keyword == Keyword.START:
        return f"✅ {who}: opted back in to texts from {escape(clinic)}."
    return f"ℹ️ {who}: they were texted the clinic's name and contact number."


def inbound_line(header: ThreadHeader, body: str) -> str:
    """An inbound text posted in its thread."""
    parsed = parse_keyword(body)
    if parsed is not None and not (parsed[1] == "YES" and not header.opted_out):
        return keyword_line(_who(header), body.strip(), parsed[0], header.clinic_name)
    return f"💬 *{escape(_who(header))}*: {escape(body)}"


def status_line(reply: StaffReply) -> str:
    """A staff answer's delivery, as its thread shows it."""
    name = escape(reply.client_name or reply.phone)
    when = f" (sent {format_time(reply.requested_at, reply.timezone)})" if reply.requested_at else ""
    if reply.status == "delivered":
        return f"✅ Delivered to {name}{when}"
    if reply.status in ("accepted", "sent"):
        return f"📤 Sent to {name}{when} · waiting for the delivery report"
    if reply.status in ("undelivered", "failed"):
        reason = escape(reply.error_message or "the carrier did not deliver it")
        return f"⚠️ Not delivered to {name}: {reason}"
    return f"⏳ Texting {name}…"


#: Why the channel refused a post (Slack's error code) and what fixes it.
CHANNEL_PROBLEMS = {
    "not_in_channel": ("the app is not a member of {channel}", "invite it: type `{invite}` in {channel}"),
    "channel_not_found": (
        "{channel} was deleted, or it is private and the app was removed from it",
        "if it still exists, type `{invite}` in it; otherwise ask whoever runs the app to link the clinic "
        "to another channel",
    ),
    "is_archived": (
        "{channel} is archived",
        "unarchive it and type `{invite}` there, or ask whoever runs the app to link the clinic to "
        "another channel",
    ),
}


def forwarded_text(header: ThreadHeader, error: str, count: int) -> str:
    """The notification text of the direct message carrying replies the channel refused."""
    what = "A reply" if count == 1 else f"{count} replies"
    return escape(f"{what} from {_who(header)} could not be posted in the clinic's channel ({error}).")


def forwarded_blocks(header: ThreadHeader, bodies: list[str], error: str) -> list[Block]:
    """The direct message: who wrote, each reply quoted, why the channel refused it and how to fix that."""
    channel = f"<#{header.channel_id}>" if header.channel_id else "the clinic's channel"
    problem, fix = CHANNEL_PROBLEMS.get(error, ("Slack refused the post ({channel})", "check {channel}"))
    share = (SECTION_TEXT_MAX - 200) // max(1, len(bodies))
    blocks: list[Block] = [mrkdwn_section(_title(header))]
    blocks.extend(mrkdwn_section(quote(body or "(no text)", share)) for body in bodies[:40])
    blocks.append(
        context(
            f"⚠️ Not posted in {channel}: {problem.format(channel=channel)} (`{escape(error)}`). "
            f"To fix it, {fix.format(channel=channel, invite=INVITE)}. "
            "Replies are posted there once the app can post again; until then they come to you here.",
        )
    )
    return blocks


def attachment_note(texted: bool) -> str:
    """Told to a staff member who attached a file to an answer: files are not texted."""
    if texted:
        return "📎 Your text was sent; the attached file was not (attachments are not texted)."
    return "📎 Not sent: attachments are not texted. Type the answer as text."


def recall_note(reply: StaffReply, deleted: bool) -> str:
    """A thread note after a staff answer already texted was edited or deleted in Slack."""
    name = escape(reply.client_name or reply.phone)
    what = "deleted" if deleted else "edited"
    gone = reply.status not in ("queued", "sending")
    return (
        f"✏️ This answer was {what} in Slack, but the text {'already went' if gone else 'is going'} to {name} "
        "as first written and cannot be recalled. Send a new answer if something needs correcting."
    )
