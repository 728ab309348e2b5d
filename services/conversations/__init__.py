"""Client replies: active conversations, STOP/START/HELP, staff answers, the Slack relay's bookkeeping.

One module per concern: `keywords` (opt-out keywords and what they do), `inbound` (an inbound text, once per
MessageSid), `staff` (answers and Close from the thread), `threads` (which Slack thread is whose, and who
posts each message). Callers import from here.
"""

from __future__ import annotations

from services.conversations.common import ACTIVE, CLOSED, INBOUND, OUTBOUND
from services.conversations.inbound import InboundResult, handle_inbound
from services.conversations.keywords import Keyword, parse_keyword
from services.conversations.staff import (
    MAX_TEXT_CHARS,
    AlreadyHandled,
    ClosedConversation,
    answer_typed_as,
    close_conversation,
    is_clinic_user,
    queue_staff_reply,
)
from services.conversations.threads import (
    CLAIM_SECONDS,
    RELAY_WINDOW,
    RETRY_FIRST,
    RETRY_MAX,
    SHOWN_STATUSES,
    RelayItem,
    StaffReply,
    ThreadHeader,
    claim_thread,
    claim_unposted,
    clinic_channel,
    defer,
    find_by_thread,
    forward_recipients,
    mark_shown,
    posted,
    posted_many,
    record_ack,
    relay_backlog,
    relay_item,
    release,
    replies_to_update,
    staff_reply,
    take_unforwarded,
    thread_header,
    unforward,
    waiting_to_forward,
)

__all__ = [
    "ACTIVE",
    "CLAIM_SECONDS",
    "CLOSED",
    "INBOUND",
    "MAX_TEXT_CHARS",
    "OUTBOUND",
    "RELAY_WINDOW",
    "RETRY_FIRST",
    "RETRY_MAX",
    "SHOWN_STATUSES",
    "AlreadyHandled",
    "ClosedConversation",
    "InboundResult",
    "Keyword",
    "RelayItem",
    "StaffReply",
    "ThreadHeader",
    "answer_typed_as",
    "claim_thread",
    "claim_unposted",
    "clinic_channel",
    "close_conversation",
    "defer",
    "find_by_thread",
    "forward_recipients",
    "handle_inbound",
    "is_clinic_user",
    "mark_shown",
    "parse_keyword",
    "posted",
    "posted_many",
    "queue_staff_reply",
    "record_ack",
    "relay_backlog",
    "relay_item",
    "release",
    "replies_to_update",
    "staff_reply",
    "take_unforwarded",
    "thread_header",
    "unforward",
    "waiting_to_forward",
]
