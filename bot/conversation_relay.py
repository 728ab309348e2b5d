"""Client replies in Slack: one thread per conversation in the clinic's channel; staff answers' delivery.

Every post is claimed in the database first (see services.conversations.threads), so a reply is posted
once even when the webhook, a simultaneous reply and the periodic `sync` job all try; a failed post is
released and `sync` tries again. `sync` also updates each staff answer's status line once it moves on.

When the channel itself refuses a post (CHANNEL_ERRORS: the bot was removed, the channel archived or gone),
the replies are not lost: each goes once by direct message to whoever sent the alert it answers (else to the
clinic's admins with a linked Slack account) with the reason and the fix, stays unposted, and is posted in
the channel once the bot can post again (`sync` retries with back-off, see services.conversations.defer; a
new reply is tried at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from bot.slack_text import SlackDirectory
from bot.views.common import context
from bot.views.conversation import (
    CHANNEL_PROBLEMS,
    forwarded_blocks,
    forwarded_text,
    inbound_line,
    keyword_line,
    recall_note,
    root_blocks,
    root_text,
    status_line,
)
from services import conversations as conv
from services.clock import Clock
from services.conversations import InboundResult, Keyword, RelayItem, ThreadHeader
from services.conversations.inbound import MediaRef, media_of
from services.delivery.health import DatabaseGuard
from services.sms import Media, SmsError

log = logging.getLogger(__name__)

SYNC_JOB_ID = "conversation-relay"
#: On background lanes, where replies went is stored in batches: once this many wait, once the oldest has
#: waited this long, or when the lanes fall idle (a crash in between leaves claims `sync` retakes later).
SAVE_BATCH = 50
SAVE_SECONDS = 0.5
#: Slack errors of chat.postMessage that say the channel cannot take posts at all
#: (https://docs.slack.dev/reference/methods/chat.postMessage#errors).
CHANNEL_ERRORS = frozenset(CHANNEL_PROBLEMS)


def channel_error(error: Exception) -> str | None:
    """The Slack error code when `error` is the channel refusing posts (CHANNEL_ERRORS), else None."""
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error") or "")
        return code if code in CHANNEL_ERRORS else None
    return None


#: Inbound MMS types uploaded into the thread as the file itself (Slack previews these pictures); others
#: are named with their type and size.
SHOWN_MEDIA = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}

#: Reads one inbound MMS file from its MediaUrlN (TwilioGateway.fetch_media: the account's Basic auth).
MediaReader = Callable[[str], Media]


def _size(count: int) -> str:
    """'812 bytes', '48 KB', '1.2 MB'."""
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


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
        client_for_channel: Callable[[str], WebClient] | None = None,
        media_reader: MediaReader | None = None,
    ) -> None:
        self.sessions = sessions
        self.client = client
        #: OAuth mode: the client carrying the token of the workspace a channel's clinic belongs to.
        self.client_for_channel = client_for_channel
        self.clock = clock
        self.media_reader = media_reader
        self.max_backlog = max_backlog
        self._lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"slack-relay-{i}") for i in range(lanes)]
        self._backlog = 0
        self._idle = threading.Condition()
        self._unsaved: list[tuple[int, str]] = []
        self._unsaved_since = 0.0
        #: Names for mentions in staff answers (users.info, conversations.info), cached.
        self.directory = SlackDirectory()
        self._guard = DatabaseGuard(log)

    def _slack(self, channel_id: str) -> WebClient:
        """The client to post into `channel_id` with (its workspace's token in OAuth mode)."""
        return self.client if self.client_for_channel is None else self.client_for_channel(channel_id)

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
        due = conv.relay_backlog(self.sessions, now)
        # A conversation in back-off with a new reply gets one try now (that reply is forwarded if refused).
        due += [c for c in conv.waiting_to_forward(self.sessions, now) if c not in due]
        for conversation_id in due:
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
        response = self._slack(reply.channel_id).chat_postMessage(
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
        self._slack(reply.channel_id).chat_update(
            channel=reply.channel_id, ts=reply.ack_ts, text=line, blocks=[context(line)]
        )
        conv.mark_shown(self.sessions, message_id, reply.ack_ts, reply.shown, reply.status)
        return 1

    def show_closed(self, conversation_id: int, closed_by: str | None) -> None:
        """Replace the thread's first message with its closed form (no Close button)."""
        header = conv.thread_header(self.sessions, conversation_id)
        if header.channel_id is None or header.thread_ts is None:
            return
        self._slack(header.channel_id).chat_update(
            channel=header.channel_id,
            ts=header.thread_ts,
            text=root_text(header, header.root_body),
            blocks=root_blocks(header, header.root_body, closed_by=closed_by),
        )

    def note_recall(self, message_id: int, *, deleted: bool) -> None:
        """A note in the thread: the edited or deleted staff answer was texted as first written."""
        reply = conv.staff_reply(self.sessions, message_id)
        if reply.channel_id is None or reply.thread_ts is None:
            return
        line = recall_note(reply, deleted)
        self._slack(reply.channel_id).chat_postMessage(
            channel=reply.channel_id, thread_ts=reply.thread_ts, text=line, blocks=[context(line)]
        )

    def tell(self, channel_id: str, user_id: str, thread_ts: str | None, text: str) -> None:
        """A message only `user_id` sees, in the thread (refusals of staff answers)."""
        try:
            self._slack(channel_id).chat_postEphemeral(
                channel=channel_id, user=user_id, thread_ts=thread_ts, text=text
            )
        except SlackApiError as error:
            log.warning("could not tell %s: %s", user_id, error.response.get("error"))
        except LookupError as error:  # OAuth mode: the workspace has no installation
            log.warning("could not tell %s: %s", user_id, error)

    # --- posting -------------------------------------------------------------------------------------

    def _post_root(self, header: ThreadHeader, item: RelayItem | None) -> str | None:
        body = item.body if item else None
        ids = [item.message_id] if item else []
        if header.channel_id is None:
            conv.release(self.sessions, message_ids=ids, conversation_id=header.conversation_id)
            return None
        try:
            response = self._slack(header.channel_id).chat_postMessage(
                channel=header.channel_id,
                text=root_text(header, body),
                blocks=root_blocks(header, body),
                unfurl_links=False,
            )
        except Exception as error:
            if (code := channel_error(error)) is not None:
                self._refused(header, ids, code)
                return None
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
        if item is not None:
            self._share_media(header.channel_id, ts, item.message_id)
        return ts

    def _post_in_thread(self, header: ThreadHeader, items: list[RelayItem]) -> int:
        for index, item in enumerate(items):
            if header.channel_id is None or header.thread_ts is None:
                conv.release(self.sessions, message_ids=[i.message_id for i in items[index:]])
                return index
            try:
                response = self._slack(header.channel_id).chat_postMessage(
                    channel=header.channel_id,
                    thread_ts=header.thread_ts,
                    text=inbound_line(header, item.body),
                    unfurl_links=False,
                )
            except Exception as error:
                left = [i.message_id for i in items[index:]]
                if (code := channel_error(error)) is not None:
                    self._refused(header, left, code)
                    return index
                conv.release(self.sessions, message_ids=left)
                log.exception("posting reply %s to Slack", item.message_id)
                return index
            self._remember_posted(item.message_id, str(response["ts"]))
            self._share_media(header.channel_id, header.thread_ts, item.message_id)
        return len(items)

    def _refused(self, header: ThreadHeader, message_ids: list[int], error: str) -> None:
        """The channel refused a post: back off, and send the replies nobody forwarded yet by DM."""
        retry_at = conv.defer(self.sessions, header.conversation_id, message_ids, self.clock.now())
        log.warning(
            "channel %s refused replies of conversation %s (%s); retrying after %s",
            header.channel_id,
            header.conversation_id,
            error,
            retry_at.isoformat(),
        )
        items = conv.take_unforwarded(self.sessions, header.conversation_id, self.clock.now())
        if not items:
            return
        full = conv.thread_header(self.sessions, header.conversation_id)
        bodies = [item.body for item in items]
        reached = 0
        slack = self.client if header.channel_id is None else self._slack(header.channel_id)
        for user_id in conv.forward_recipients(self.sessions, header.conversation_id):
            try:
                dm = slack.conversations_open(users=user_id)["channel"]["id"]
                slack.chat_postMessage(
                    channel=dm,
                    text=forwarded_text(full, error, len(bodies)),
                    blocks=forwarded_blocks(full, bodies, error),
                    unfurl_links=False,
                )
                reached += 1
            except SlackApiError as failure:
                log.warning("could not forward replies to %s: %s", user_id, failure.response.get("error"))
        if not reached:
            conv.unforward(self.sessions, [item.message_id for item in items])

    def _share_media(self, channel: str, thread_ts: str, message_id: int) -> None:
        """Upload an MMS's pictures into the thread (files upload v2: files.getUploadURLExternal, then
        files.completeUploadExternal); name other files with their type and size. Best effort: the text
        line already says how many files came."""
        if self.media_reader is None:
            return
        for index, ref in enumerate(media_of(self.sessions, message_id), start=1):
            try:
                self._share_one(channel, thread_ts, ref, index)
            except Exception:
                log.exception("sharing file %d of message %s in Slack", index, message_id)

    def _share_one(self, channel: str, thread_ts: str, ref: MediaRef, index: int) -> None:
        assert self.media_reader is not None
        slack = self._slack(channel)
        kind = ref.content_type.lower()
        try:
            media = self.media_reader(ref.url)
        except ValueError as error:  # over the size the app reads
            line = f"📎 A file the client sent is not shown here ({kind}, {error})."
            slack.chat_postMessage(channel=channel, thread_ts=thread_ts, text=line, blocks=[context(line)])
            return
        except SmsError as error:
            line = f"📎 A file the client sent could not be read from Twilio ({kind}): {error.reason}."
            slack.chat_postMessage(channel=channel, thread_ts=thread_ts, text=line, blocks=[context(line)])
            return
        kind = media.content_type.lower() or kind
        extension = SHOWN_MEDIA.get(kind)
        if extension is None:
            line = f"📎 The client sent a file Slack cannot show here: {kind}, {_size(len(media.content))}."
            slack.chat_postMessage(channel=channel, thread_ts=thread_ts, text=line, blocks=[context(line)])
            return
        slack.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            content=media.content,
            filename=f"picture-{index}.{extension}",
            title=f"Picture {index} from the client",
        )

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
            self._slack(channel).chat_postMessage(channel=channel, text=line, blocks=[context(line)])
        except SlackApiError as error:
            log.warning("could not post an opt-out notice: %s", error.response.get("error"))
        except LookupError as error:  # OAuth mode: the workspace has no installation
            log.warning("could not post an opt-out notice: %s", error)
