"""Inbound replies under load: a burst, then 20 simultaneous replies from one number (issue 10).

The inbound handler and the Slack relay lock the same conversation rows; a deadlock between them used to
answer Twilio 500 (Twilio does not retry), so a reply was never stored nor shown. Every reply must be
answered 200, stored once and shown in its Slack thread once.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from bot.conversation_relay import ConversationRelay
from bot.inbound import make_inbound_handler
from services.models import ConversationMessage, InboundEvent
from tests.e2e import test_replies
from tests.e2e.test_replies import JANE, Stack, count

#: The served app with sandbox Slack and Twilio (the fixture of the reply tests).
stack = test_replies.stack

BURST = 200
TOGETHER = 20


def test_twenty_simultaneous_replies_after_a_burst_are_all_stored_and_shown_once(stack: Stack) -> None:
    relay = ConversationRelay(stack.sessions, stack.ctx.client, stack.clock, lanes=4)
    stack.routes.inbound_handler = make_inbound_handler(stack.ctx, relay)
    senders = [f"+1773555{n:04d}" for n in range(24)]  # Jane then opens her conversation with 20 at once
    try:
        with ThreadPoolExecutor(16) as pool:
            burst = list(
                pool.map(lambda i: stack.text(f"burst {i}", from_=senders[i % len(senders)]), range(BURST))
            )
        barrier = threading.Barrier(TOGETHER)

        def together(i: int) -> int:
            barrier.wait()
            return stack.text(f"together {i}", from_=JANE)

        with ThreadPoolExecutor(TOGETHER) as pool:
            statuses = list(pool.map(together, range(TOGETHER)))
        assert relay.wait_idle(60)
    finally:
        relay.close()
    stack.clock.advance(1)
    stack.relay.sync()  # whatever joined a thread while it was being started

    assert burst == [200] * BURST
    assert statuses == [200] * TOGETHER, "a reply answered Twilio with an error: it would be lost"
    assert count(stack.sessions, InboundEvent) == BURST + TOGETHER
    with stack.sessions() as session:
        bodies = session.scalars(select(ConversationMessage.body)).all()
        unshown = session.scalar(
            select(ConversationMessage.id).where(ConversationMessage.slack_ts.is_(None)).limit(1)
        )
    assert sorted(b for b in bodies if b.startswith("together")) == sorted(
        f"together {i}" for i in range(TOGETHER)
    )
    assert unshown is None, "a stored reply was never shown in Slack"
    shown = [m.get("text", "") + str(m.get("blocks", "")) for m in stack.slack.messages.get("C0FRONT", [])]
    for i in range(TOGETHER):
        hits = [s for s in shown if re.search(rf"together {i}\b", s)]
        assert len(hits) == 1, f"'together {i}' shown {len(hits)} times in Slack"
