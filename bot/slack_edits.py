"""Progress edits of activity entries within Slack's rate tier: a bucket per workspace, latest state only.

`chat.update` is a Tier 3 method: about 50 calls a minute per workspace
(https://docs.slack.dev/apis/web-api/rate-limits). Twenty alerts running at once in one workspace would
each want an edit every few seconds, so progress edits are coalesced: a message has at most one edit
waiting (a newer state replaces it), edits leave through a token bucket per workspace, a 429 pauses the
workspace for its Retry-After, and a completion takes the next token before any waiting progress edit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

#: (channel id, message ts): one activity entry.
MessageKey = tuple[str, str]


@dataclass(frozen=True)
class EditBudget:
    """The chat.update calls this app allows itself per workspace: `calls` in any `window` seconds.

    Slack's Tier 3 allows 50+ a minute per workspace; 45 leaves room for the other edits of the same
    token (the Cancel button, the reply relay's delivery ticks). Tokens refill at
    (calls - burst) / window per second into a bucket of `burst`, so no window of `window` seconds sees
    more than `calls`. Progress edits leave `reserve` tokens in the bucket for completions.
    """

    calls: int = 45
    window: float = 60.0
    burst: int = 5
    reserve: int = 2

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return max(self.calls - self.burst, 1) / self.window


@dataclass
class TokenBucket:
    """A token bucket on a monotonic clock (seconds); `paused_until` holds it empty after a 429."""

    budget: EditBudget
    tokens: float
    stamp: float
    paused_until: float = 0.0

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last look, up to `burst`."""
        self.tokens = min(float(self.budget.burst), self.tokens + (now - self.stamp) * self.budget.rate)
        self.stamp = now

    def wait(self, now: float, keep: int = 0) -> float:
        """Seconds until a token can be taken while leaving `keep` in the bucket (0: take now)."""
        self.refill(now)
        if now < self.paused_until:
            return self.paused_until - now
        missing = keep + 1 - self.tokens
        return 0.0 if missing <= 0 else missing / self.budget.rate

    def take(self, now: float) -> None:
        """Spend one token (callers asked `wait` first)."""
        self.refill(now)
        self.tokens -= 1


@dataclass
class ProgressEdit:
    """One waiting chat.update of an activity entry: its workspace, fallback text and blocks."""

    team: str
    text: str
    blocks: list[dict[str, Any]]


@dataclass
class EditScheduler:
    """Which progress edit may go next and when; no I/O, no threads (the lane drives it).

    The waiting edit of a message is replaced by a newer one; a message that was finished takes no more
    progress; while a completion waits for a token, progress edits wait for it.
    """

    budget: EditBudget
    monotonic: Callable[[], float] = time.monotonic
    pending: dict[MessageKey, ProgressEdit] = field(default_factory=dict)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    finished: set[MessageKey] = field(default_factory=set)
    in_flight: set[MessageKey] = field(default_factory=set)
    urgent: int = 0

    def bucket(self, team: str) -> TokenBucket:
        """The workspace's bucket (full when first seen)."""
        found = self.buckets.get(team)
        if found is None:
            found = self.buckets[team] = TokenBucket(self.budget, float(self.budget.burst), self.monotonic())
        return found

    def offer(self, key: MessageKey, edit: ProgressEdit) -> None:
        """Keep `edit` as the message's latest progress (dropped if the message is finished)."""
        if key not in self.finished:
            self.pending[key] = edit

    def finish(self, key: MessageKey) -> None:
        """The message now shows its outcome: forget its waiting progress and take no more."""
        self.finished.add(key)
        self.pending.pop(key, None)

    def next_progress(self) -> tuple[MessageKey, ProgressEdit] | float | None:
        """The edit to send now (its token taken), else seconds to wait, else None when nothing waits."""
        if not self.pending:
            return None
        if self.urgent:
            return float(self.budget.window)  # woken when the completion has its token
        now = self.monotonic()
        soonest: float | None = None
        for key, edit in self.pending.items():
            if key in self.in_flight:
                continue
            bucket = self.bucket(edit.team)
            wait = bucket.wait(now, keep=self.budget.reserve)
            if wait <= 0:
                bucket.take(now)
                del self.pending[key]
                self.in_flight.add(key)
                return key, edit
            soonest = wait if soonest is None else min(soonest, wait)
        return soonest if soonest is not None else float(self.budget.window)

    def take_urgent(self, team: str) -> float:
        """For a completion: 0 when its token was taken, else seconds to wait (progress waits meanwhile)."""
        now = self.monotonic()
        bucket = self.bucket(team)
        wait = bucket.wait(now)
        if wait <= 0:
            bucket.take(now)
        return wait

    def pause(self, team: str, seconds: float) -> None:
        """Slack answered 429: no edit of this workspace before Retry-After has passed."""
        bucket = self.bucket(team)
        bucket.paused_until = max(bucket.paused_until, self.monotonic() + seconds)
        bucket.tokens = min(bucket.tokens, 0.0)


def retry_after(error: SlackApiError) -> float | None:
    """Seconds from a 429 answer's Retry-After header; None when the error is not a rate limit."""
    response = error.response
    if response.status_code != 429:
        return None
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(float(value), 0.0) if value is not None else 1.0
    except ValueError:
        return 1.0


class EditLane:
    """Sends coalesced progress edits from a background thread; completions edit first.

    The thread starts when an edit is offered and ends when none is waiting, so there is nothing to close.
    `client` should not sleep on 429 itself (no RateLimitErrorRetryHandler): the lane pauses the workspace.
    """

    #: A completion retries a rate-limited edit this many times before raising (the finalizer retries later).
    URGENT_ATTEMPTS = 5

    def __init__(
        self,
        client: WebClient,
        budget: EditBudget | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        ignore: frozenset[str] = frozenset(),
    ) -> None:
        self.client = client
        self.scheduler = EditScheduler(budget or EditBudget(), monotonic)
        #: Slack errors after which the progress edit is dropped quietly (the bot left, the message is gone).
        self.ignore = ignore
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def offer(self, team: str, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """Show this progress on the message soon (an older waiting state of it is dropped)."""
        with self._cond:
            self.scheduler.offer((channel, ts), ProgressEdit(team, text, blocks))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="slack-progress-edits", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def update_now(self, team: str, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        """The message's final edit, ahead of every waiting progress edit; raises SlackApiError."""
        key = (channel, ts)
        with self._cond:
            self.scheduler.finish(key)
            while key in self.scheduler.in_flight:  # its last progress edit must not land after this one
                self._cond.wait()
        for attempt in range(self.URGENT_ATTEMPTS):
            self._take_urgent(team)
            try:
                self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
                return
            except SlackApiError as error:
                wait = retry_after(error)
                if wait is None or attempt == self.URGENT_ATTEMPTS - 1:
                    raise
                with self._cond:
                    self.scheduler.pause(team, wait)

    def _take_urgent(self, team: str) -> None:
        with self._cond:
            self.scheduler.urgent += 1
            try:
                while (wait := self.scheduler.take_urgent(team)) > 0:
                    self._cond.wait(wait)
            finally:
                self.scheduler.urgent -= 1
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                step = self.scheduler.next_progress()
                while isinstance(step, float):
                    self._cond.wait(step)
                    step = self.scheduler.next_progress()
                if step is None:
                    self._thread = None
                    return
            key, edit = step
            try:
                self._send(key, edit)
            finally:
                with self._cond:
                    self.scheduler.in_flight.discard(key)
                    self._cond.notify_all()

    def _send(self, key: MessageKey, edit: ProgressEdit) -> None:
        channel, ts = key
        try:
            self.client.chat_update(channel=channel, ts=ts, text=edit.text, blocks=edit.blocks)
        except SlackApiError as error:
            wait = retry_after(error)
            with self._cond:
                if wait is not None:
                    self.scheduler.pause(edit.team, wait)
                    if key not in self.scheduler.pending:  # nothing newer came: show this one later
                        self.scheduler.offer(key, edit)
                    return
            code = error.response.get("error")
            if code in self.ignore:
                log.warning("progress edit of %s in %s not shown: %s", ts, channel, code)
            else:
                log.error("progress edit of %s in %s failed: %s", ts, channel, code)
        except Exception:
            log.exception("progress edit of %s in %s failed", ts, channel)
