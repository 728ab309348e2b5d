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

from bot.slack_client import CountingWebClient
from bot.slack_edits import EditBudget, EditLane
from bot.views import activity_message
from bot.views.activity import report_comment
from bot.views.common import escape
from bot.views.models import ChannelAccess
from bot.views.wording import BOT_MENTION, format_when
from services.clock import Clock, SystemClock
from services.notify import AlertSnapshot, PostedMessage
from services.settings import Settings

log = logging.getLogger(__name__)

#: Slack errors meaning the bot cannot reach the channel: the admin hears about it by direct message.
UNREACHABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
#: How long completion waits for the activity entry to be posted before posting the outcome on its own.
ENTRY_GRACE = timedelta(seconds=30)


class EntryNotPostedYet(RuntimeError):
    """The alert finished before its activity entry was posted; the finalizer retries shortly."""


def build_client(settings: Settings) -> WebClient:
    """The bot's Web API client: SLACK_API_URL when set, Retry-After honoured on rate limits."""
    base_url = (settings.slack_api_url or "https://slack.com/api").rstrip("/") + "/"
    return CountingWebClient(
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


def edit_client(client: WebClient) -> WebClient:
    """The same workspace's client without sleeping on 429: the edit lane pauses the workspace itself."""
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )


def channel_access(client: WebClient | None, channel_id: str | None) -> ChannelAccess:
    """Can the bot post in `channel_id`: conversations.info's `is_member` (channels:read, groups:read).

    A private channel the bot was never invited to answers `channel_not_found` (NOT_VISIBLE); a failed
    look-up is UNKNOWN, never a refusal.
    """
    if client is None or not channel_id:
        return ChannelAccess.UNKNOWN
    try:
        channel = client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as error:
        if _error(error) == "channel_not_found":
            return ChannelAccess.NOT_VISIBLE
        log.warning("conversations.info for %s failed: %s", channel_id, _error(error))
        return ChannelAccess.UNKNOWN
    if channel.get("is_archived"):
        return ChannelAccess.NOT_MEMBER
    return ChannelAccess.MEMBER if channel.get("is_member") else ChannelAccess.NOT_MEMBER


class SlackNotifier:
    """Posts and edits the alert's activity entry; DMs the admin when the bot cannot reach the channel."""

    def __init__(
        self, client: WebClient, clock: Clock | None = None, *, edit_budget: EditBudget | None = None
    ) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        #: Progress and outcome edits (chat.update, Tier 3) within the per-workspace budget.
        self.edits = EditLane(edit_client(client), edit_budget, ignore=UNREACHABLE | {"message_not_found"})
        self._lock = threading.Lock()
        #: Reports already shared, by alert id and completion time: a retried completion never uploads
        #: twice, while a resumed alert's new completion shares its new report.
        self._shared: dict[tuple[int, datetime | None], tuple[str, str | None]] = {}

    # --- the Notifier port -----------------------------------------------------------------

    def alert_started(self, alert: AlertSnapshot) -> PostedMessage | None:
        """Post the entry in the clinic's channel (the admin's DM when the bot is not there); point an
        admin who asked elsewhere to it.

        A scheduled alert's entry is edited in place instead, within the edit budget: at once when it shows
        an outcome (cancelled, stopped; raises SlackApiError), else ahead of its progress as it starts.
        Posted anew only when that message is gone.
        """
        text, blocks = activity_message(alert, self.clock.now())
        if alert.slack_channel_id and alert.slack_message_ts:
            where = PostedMessage(alert.slack_channel_id, alert.slack_message_ts)
            if not alert.finished:
                self.edits.offer(alert.slack_team_id or "", where.channel_id, where.ts, text, blocks)
                return where
            try:
                self.edits.update_now(alert.slack_team_id or "", where.channel_id, where.ts, text, blocks)
                return where
            except SlackApiError as error:
                if _error(error) != "message_not_found":
                    raise
        if alert.slack_channel_id:
            try:
                posted = self.client.chat_postMessage(
                    channel=alert.slack_channel_id,
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                self._point_to_channel(alert)
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
        """Queue the entry's edit with the counts and time left; returns at once.

        Edits leave through the workspace's budget (bot.slack_edits): a newer state of the same entry
        replaces one still waiting, so only the latest progress is shown.
        """
        if not (alert.slack_channel_id and alert.slack_message_ts):
            return
        text, blocks = activity_message(alert, self.clock.now())
        self.edits.offer(
            alert.slack_team_id or "", alert.slack_channel_id, alert.slack_message_ts, text, blocks
        )

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
                self.edits.update_now(alert.slack_team_id or "", channel, ts, text, blocks)
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
        uploaded = self.client.files_upload_v2(
            channel=channel,
            thread_ts=ts,
            file=str(report),
            filename=report.name,
            title=f"Mass text alert #{alert.id} report",
            initial_comment=report_comment(alert),
        )
        file: dict[str, Any] = uploaded.get("file") or (uploaded.get("files") or [{}])[0]
        permalink: str | None = file.get("permalink")
        with self._lock:
            self._shared[(alert.id, alert.completed_at)] = (channel, permalink)
        return permalink

    def _point_to_channel(self, alert: AlertSnapshot) -> None:
        """Tell an admin who typed /mass-alert elsewhere where the alert is shown (never the report).

        Ephemeral where they typed; by direct message when the bot cannot post there (a DM between
        people, a channel the bot is not in). Best effort: the alert goes on either way.
        """
        asked_in, user = alert.asked_in_channel_id, alert.slack_user_id
        if not (asked_in and user and alert.slack_channel_id) or asked_in == alert.slack_channel_id:
            return
        if alert.state == "scheduled" and alert.start_at is not None:
            when = format_when(alert.start_at, alert.timezone)
            text = (
                f"Mass text alert #{alert.id} for *{escape(alert.clinic_name)}* is scheduled for {when}. "
                f"Its entry, with Cancel, is in <#{alert.slack_channel_id}>, the clinic's channel."
            )
        else:
            text = (
                f"Mass text alert #{alert.id} for *{escape(alert.clinic_name)}* is under way. Its progress, "
                f"outcome and report are in <#{alert.slack_channel_id}>, the clinic's channel."
            )
        try:
            self.client.chat_postEphemeral(channel=asked_in, user=user, text=text)
            return
        except SlackApiError as error:
            log.info("pointer for alert %s not shown in %s: %s", alert.id, asked_in, _error(error))
        try:
            dm: str = self.client.conversations_open(users=user)["channel"]["id"]
            self.client.chat_postMessage(channel=dm, text=text)
        except SlackApiError as error:
            log.warning("could not point the sender of alert %s to its channel: %s", alert.id, _error(error))

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
                f"<#{alert.slack_channel_id}> and type `/invite {BOT_MENTION}`."
            )
        else:
            text = (
                f"{escape(alert.clinic_name)} has no Slack channel linked, so mass text alert #{alert.id} is "
                "reported here: progress, the outcome and the report. Ask whoever set the app up to link "
                "the clinic's channel."
            )
        self.client.chat_postMessage(channel=dm, text=text)
        return dm
