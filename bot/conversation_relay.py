"""Client replies in Slack: one thread per conversation in the clinic's channel; staff answers' delivery.

Every post is claimed in the database first (see services.conversations.threads), so a reply is posted
once even when the webhook, a simultaneous reply and the periodic `sync` job all try; a failed post is
released and `sync` tries again. `sync` also updates each staff answer's status line once it moves on.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.views.common import context
from bot.views.conversation import inbound_line, keyword_line, root_blocks, root_text, status_line
from services import conversations as conv
from services.clock import Clock
from services.conversations import InboundResult, Keyword, RelayItem, ThreadHeader
from services.delivery.health import DatabaseGuard

log = logging.getLogger(__name__)

SYNC_JOB_ID = "conversation-relay"
#: On background lanes, where replies went is stored in batches: once this many wait, once the oldest has
#: waited this long, or when the lanes fall idle (a crash in between leaves claims `sync` retakes later).
SAVE_BATCH = 50
SAVE_SECONDS = 0.5


# --- the relay -------------------------------------------------------------------------------------


class ConversationRelay:
    """Posts replies to Slack threads and keeps staff answers' status lines current.

    With `lanes` > 0, `after_inbound` returns at once and posts from background threads (one lane per
    conversation keeps a thread's replies in order), so the Twilio webhook never waits for Slack. At
    most `max_backlog` posts wait; past that a reply is left for `sync` (its claim is released). Lanes
    store the Slack ts of the replies they post in batches (see SAVE_BATCH); a thread's first message is
    stored at once, since the next reply needs it.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: WebClient,
        clock: Clock,
        *,
        lanes: int = 0,
        max_backlog: int = 2000,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.clock = clock
        self.max_backlog = max_backlog
        self._lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"slack-relay-{i}") for i in range(lanes)]
        self._backlog = 0
        self._idle = threading.Condition()
        self._unsaved: list[tuple[int, str]] = []
        self._unsaved_since = 0.0
        self._guard = DatabaseGuard(log)

    def after_inbound(self, result: InboundResult) -> None:
        """Post what an inbound text did (now, or on a background lane when the relay has lanes)."""
        if not self._lanes or result.duplicate or result.clinic_id is None:
            self._after_inbound(result)
            return
        with self._idle:
            full = self._backlog >= self.max_backlog
            if not full:
                self._backlog += 1
        if full:
            if result.relay_claimed and result.message_id is not None:
                ids = [item.message_id for item in result.earlier] + [result.message_id]
                conv.release(
                    self.sessions,
                    message_ids=ids,
                    conversation_id=result.conversation_id if result.opened else None,
                )
            return
        lane = self._lanes[(result.conversation_id or result.clinic_id or 0) % len(self._lanes)]
        lane.submit(self._in_background, result)

    def _in_background(self, result: InboundResult) -> None:
        try:
            self._after_inbound(result)
        except Exception:
            log.exception("relaying inbound text %s to Slack", result.message_id)
        finally:
            with self._idle:
                last = self._backlog == 1
            self._save_posted(everything=last)
            with self._idle:
                self._backlog -= 1
                self._idle.notify_all()

    def _remember_posted(self, message_id: int, ts: str) -> None:
        """Note where a reply went; stored with the next batch (on lanes) or at once."""
        if not self._lanes:
            conv.posted(self.sessions, message_id=message_id, slack_ts=ts)
            return
        with self._idle:
            if not self._unsaved:
                self._unsaved_since = time.monotonic()
            self._unsaved.append((message_id, ts))

    def _save_posted(self, *, everything: bool) -> None:
        """Store the noted Slack ts: all of them, or only when the batch is full or old enough."""
        with self._idle:
            if not self._unsaved:
                return
            if (
                not everything
                and len(self._unsaved) < SAVE_BATCH
                and time.monotonic() - self._unsaved_since < SAVE_SECONDS
            ):
                return
            batch, self._unsaved = self._unsaved, []
        try:
            conv.posted_many(self.sessions, batch)
        except Exception:
            log.exception("storing where %d replies were posted in Slack", len(batch))
            with self._idle:
                if not self._unsaved:
                    self._unsaved_since = time.monotonic()
                self._unsaved[:0] = batch

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the background lanes have posted everything handed to them; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._backlog == 0, timeout)

    def close(self) -> None:
        """Finish the background posts and stop the lanes."""
        for lane in self._lanes:
            lane.shutdown(wait=True)
        self._save_posted(everything=True)

    def _after_inbound(self, result: InboundResult) -> None:
        """Post what an inbound text did: in its thread (starting it when new), or a channel notice."""
        if result.duplicate or result.clinic_id is None:
            return
        if result.conversation_id is None:
            if result.keyword in (Keyword.STOP, Keyword.START):
                self._notice(result)
            return
        if not result.relay_claimed or result.message_id is None or result.header is None:
            return  # its thread is being started by another reply; that relayer or `sync` posts it
        item = RelayItem(result.message_id, result.body, self.clock.now())
        if result.opened:
            ts = self._post_root(result.header, item)
            if ts is not None:  # replies that joined while the thread was being started
                later = conv.claim_unposted(self.sessions, result.conversation_id, self.clock.now())
                self._post_in_thread(replace(result.header, thread_ts=ts), later)
        else:
            self._post_in_thread(result.header, [*result.earlier, item])

    def relay(self, conversation_id: int) -> int:
        """Post every message of one conversation nobody has posted; the number posted."""
        now = self.clock.now()
        header = conv.thread_header(self.sessions, conversation_id)
        if header.channel_id is None:
            return 0
        count = 0
        if header.thread_ts is None:
            if not conv.claim_thread(self.sessions, conversation_id, now):
                return 0
            first = conv.claim_unposted(self.sessions, conversation_id, now, limit=1)
            ts = self._post_root(header, first[0] if first else None)
            if ts is None:
                return 0
            count += len(first)
            header = replace(header, thread_ts=ts)
        items = conv.claim_unposted(self.sessions, conversation_id, now)
        try:
            return count + self._post_in_thread(header, items)
        finally:
            self._save_posted(everything=True)

    def sync(self) -> int:
        """The periodic job: post what was missed, update staff answers' status lines; the number of posts.

        While the database is unreachable the job backs off and logs one line per change
        (services.delivery.health), instead of a traceback every run.
        """
        return self._guard.run(self._sync, "conversation relay") or 0

    def _sync(self) -> int:
        now = self.clock.now()
        done = 0
        for conversation_id in conv.relay_backlog(self.sessions, now):
            try:
                done += self.relay(conversation_id)
            except Exception:
                log.exception("relaying conversation %s", conversation_id)
        for message_id in conv.replies_to_update(self.sessions, now):
            try:
                done += self.refresh_staff_reply(message_id)
            except Exception:
                log.exception("updating the status of staff answer %s", message_id)
        return done

    def acknowledge_staff_reply(self, message_id: int) -> None:
        """Post the answer's status line in its thread (updated by `sync` as it is sent and delivered)."""
        reply = conv.staff_reply(self.sessions, message_id)
        if reply.channel_id is None or reply.thread_ts is None:
            return
        line = status_line(replace(reply, status="queued"))
        response = self.client.chat_postMessage(
            channel=reply.channel_id, thread_ts=reply.thread_ts, text=line, blocks=[context(line)]
        )
        conv.record_ack(self.sessions, message_id, str(response["ts"]), "queued")

    def refresh_staff_reply(self, message_id: int) -> int:
        """Show a staff answer's new status in its thread; 1 when the line changed."""
        reply = conv.staff_reply(self.sessions, message_id)
        if reply.ack_ts is None or reply.channel_id is None or reply.status == reply.shown:
            return 0
        if reply.status not in conv.SHOWN_STATUSES:
            return 0
        line = status_line(reply)
        self.client.chat_update(channel=reply.channel_id, ts=reply.ack_ts, text=line, blocks=[context(line)])
        conv.mark_shown(self.sessions, message_id, reply.ack_ts, reply.shown, reply.status)
        return 1

    def show_closed(self, conversation_id: int, closed_by: str | None) -> None:
        """Replace the thread's first message with its closed form (no Close button)."""
        header = conv.thread_header(self.sessions, conversation_id)
        if header.channel_id is None or header.thread_ts is None:
            return
        self.client.chat_update(
            channel=header.channel_id,
            ts=header.thread_ts,
            text=root_text(header, header.root_body),
            blocks=root_blocks(header, header.root_body, closed_by=closed_by),
        )

    def tell(self, channel_id: str, user_id: str, thread_ts: str | None, text: str) -> None:
        """A message only `user_id` sees, in the thread (refusals of staff answers)."""
        try:
            self.client.chat_postEphemeral(channel=channel_id, user=user_id, thread_ts=thread_ts, text=text)
        except SlackApiError as error:
            log.warning("could not tell %s: %s", user_id, error.response.get("error"))

    # --- posting -------------------------------------------------------------------------------------

    def _post_root(self, header: ThreadHeader, item: RelayItem | None) -> str | None:
        body = item.body if item else None
        ids = [item.message_id] if item else []
        if header.channel_id is None:
            conv.release(self.sessions, message_ids=ids, conversation_id=header.conversation_id)
            return None
        try:
            response = self.client.chat_postMessage(
                channel=header.channel_id,
                text=root_text(header, body),
                blocks=root_blocks(header, body),
                unfurl_links=False,
            )
        except Exception:
            conv.release(self.sessions, message_ids=ids, conversation_id=header.conversation_id)
            log.exception("starting the Slack thread of conversation %s", header.conversation_id)
            return None
        ts = str(response["ts"])
        conv.posted(
            self.sessions,
            message_id=item.message_id if item else None,
            slack_ts=ts,
            conversation_id=header.conversation_id,
            channel_id=header.channel_id,
        )
        return ts

    def _post_in_thread(self, header: ThreadHeader, items: list[RelayItem]) -> int:
        for index, item in enumerate(items):
            if header.channel_id is None or header.thread_ts is None:
                conv.release(self.sessions, message_ids=[i.message_id for i in items[index:]])
                return index
            try:
                response = self.client.chat_postMessage(
                    channel=header.channel_id,
                    thread_ts=header.thread_ts,
                    text=inbound_line(header, item.body),
                    unfurl_links=False,
                )
            except Exception:
                conv.release(self.sessions, message_ids=[i.message_id for i in items[index:]])
                log.exception("posting reply %s to Slack", item.message_id)
                return index
            self._remember_posted(item.message_id, str(response["ts"]))
        return len(items)

    def _notice(self, result: InboundResult) -> None:
        """A keyword from a client without an active conversation: one line in the clinic's channel."""
        channel, _ = conv.clinic_channel(self.sessions, result.clinic_id or 0)
        if channel is None or result.keyword is None:
            return
        name = result.client_name or result.phone or "A client"
        others = f" (also on this number: {', '.join(result.other_clients)})" if result.other_clients else ""
        line = keyword_line(
            f"{name}{others}",
            result.keyword_text or result.keyword.upper(),
            result.keyword,
            result.clinic_name or "the clinic",
        )
        try:
            self.client.chat_postMessage(channel=channel, text=line, blocks=[context(line)])
        except SlackApiError as error:
            log.warning("could not post an opt-out notice: %s", error.response.get("error"))
