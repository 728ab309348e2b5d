"""The Notifier port for Slack: the activity entry, its progress, the green/red outcome, the report upload."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.views import activity_message
from services.clock import Clock, SystemClock
from services.notify import AlertSnapshot, PostedMessage
from services.settings import Settings

log = logging.getLogger(__name__)

#: Slack errors meaning the bot cannot reach the channel: the admin hears about it by direct message.
UNREACHABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
BOT_NAME = "@Mass Text Alerts"
#: How long completion waits for the activity entry to be posted before posting the outcome on its own.
ENTRY_GRACE = timedelta(seconds=30)


class EntryNotPostedYet(RuntimeError):
    """The alert finished before its activity entry was posted; the finalizer retries shortly."""


def build_client(settings: Settings) -> WebClient:
    """The bot's Web API client: SLACK_API_URL when set, Retry-After honoured on rate limits."""
    base_url = (settings.slack_api_url or "https://slack.com/api").rstrip("/") + "/"
    return WebClient(
        token=settings.slack_bot_token,
        base_url=base_url,
        timeout=15,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


def _error(error: SlackApiError) -> str:
    return str(error.response.get("error", ""))


class SlackNotifier:
    """Posts and edits the alert's activity entry; DMs the admin when the bot cannot reach the channel."""

    def __init__(self, client: WebClient, clock: Clock | None = None) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        #: Reports already shared, by alert id and completion time: a retried completion never uploads
        #: twice, while a resumed alert's new completion shares its new report.
        self._shared: dict[tuple[int, datetime | None], tuple[str, str | None]] = {}

    # --- the Notifier port -----------------------------------------------------------------

    def alert_started(self, alert: AlertSnapshot) -> PostedMessage | None:
        """Post the entry where the alert was asked for; the admin's DM when the bot is not there."""
        text, blocks = activity_message(alert, self.clock.now())
        if alert.slack_channel_id:
            try:
                posted = self.client.chat_postMessage(
                    channel=alert.slack_channel_id,
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                return PostedMessage(posted["channel"], posted["ts"])
            except SlackApiError as error:
                if _error(error) not in UNREACHABLE:
                    raise
        dm = self._explain_to_admin(alert)
        if dm is None:
            return None
        posted = self.client.chat_postMessage(channel=dm, text=text, blocks=blocks)
        return PostedMessage(posted["channel"], posted["ts"])

    def alert_progress(self, alert: AlertSnapshot) -> None:
        """Edit the entry with the counts and time left (the dispatcher spaces these out)."""
        if not (alert.slack_channel_id and alert.slack_message_ts):
            return
        text, blocks = activity_message(alert, self.clock.now())
        try:
            self.client.chat_update(
                channel=alert.slack_channel_id, ts=alert.slack_message_ts, text=text, blocks=blocks
            )
        except SlackApiError as error:
            if _error(error) not in UNREACHABLE | {"message_not_found"}:
                raise
            log.warning("progress of alert %s not shown: %s", alert.id, _error(error))

    def alert_completed(self, alert: AlertSnapshot, report: Path) -> str | None:
        """Share the report, then turn the entry green or red; raises on failure so it is retried."""
        channel, ts = alert.slack_channel_id, alert.slack_message_ts
        if channel and not ts and self.clock.now() - alert.created_at < ENTRY_GRACE:
            # The entry's post may still be on its way (e.g. waiting out a rate limit): edit it later.
            raise EntryNotPostedYet(f"alert {alert.id} finished before its activity entry was posted")
        if channel:
            try:
                return self._complete_in(channel, ts, alert, report)
            except SlackApiError as error:
                if _error(error) not in UNREACHABLE:
                    raise
        dm = self._explain_to_admin(alert)
        if dm is None:
            log.warning("alert %s finished but nobody in Slack can be told (no channel, no sender)", alert.id)
            return None
        in_dm = ts if channel == dm else None
        return self._complete_in(dm, in_dm, alert, report)

    # --- helpers ---------------------------------------------------------------------------

    def _complete_in(self, channel: str, ts: str | None, alert: AlertSnapshot, report: Path) -> str | None:
        permalink = self._share(channel, ts, alert, report)
        shown = replace(alert, report_permalink=permalink or alert.report_permalink)
        text, blocks = activity_message(shown, self.clock.now())
        if ts:
            try:
                self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
                return permalink
            except SlackApiError as error:
                if _error(error) != "message_not_found":
                    raise
        self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        return permalink

    def _share(self, channel: str, ts: str | None, alert: AlertSnapshot, report: Path) -> str | None:
        """Upload the CSV into the channel (the entry's thread) with files upload v2; its permalink."""
        with self._lock:
            done = self._shared.get((alert.id, alert.completed_at))
        if done is not None and done[0] == channel:
            return done[1]
        outcome = "all sent" if alert.succeeded else f"{alert.failed:,} failed: who and why"
        uploaded = self.client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            file=str(report),
            filename=report.name,
            title=f"Mass text alert #{alert.id} report",
            initial_comment=f"📎 Report of mass text alert #{alert.id} ({outcome}).",
        )
        file: dict[str, Any] = uploaded.get("file") or (uploaded.get("files") or [{}])[0]
        permalink: str | None = file.get("permalink")
        with self._lock:
            self._shared[(alert.id, alert.completed_at)] = (channel, permalink)
        return permalink

    def _explain_to_admin(self, alert: AlertSnapshot) -> str | None:
        """Open a DM with whoever sent the alert and say how to let the bot into the channel."""
        if not alert.slack_user_id:
            return None
        dm: str = self.client.conversations_open(users=alert.slack_user_id)["channel"]["id"]
        if alert.slack_channel_id == dm:
            return dm  # the entry already lives here
        if alert.slack_channel_id:
            text = (
                f"I could not post mass text alert #{alert.id} in <#{alert.slack_channel_id}>: I am not a "
                f"member of that channel. Nothing is lost: the texts are going out, and I will show the "
                f"progress, the outcome and the report here. To see alerts in the channel next time, open "
                f"<#{alert.slack_channel_id}> and type `/invite {BOT_NAME}`."
            )
        else:
            text = (
                f"{alert.clinic_name} has no Slack channel linked, so mass text alert #{alert.id} is "
                "reported here: progress, the outcome and the report. Ask whoever set the app up to link "
                "the clinic's channel."
            )
        self.client.chat_postMessage(channel=dm, text=text)
        return dm
