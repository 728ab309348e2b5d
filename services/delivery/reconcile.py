"""Settling texts whose outcome is unknown, and polling Twilio when there are no status callbacks.

A text in doubt (timeout, 5xx, crash after the request) is looked up in Twilio's Messages list by
what identifies its attempt: a message to that To from that sender, created inside the attempt's
window, with that body, not already claimed by another row. Found: settled with Twilio's status,
error code and final time. Not found: it never left, so it is queued again (never resent blindly);
after `max_attempts` it fails.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from services.db import read_sessions
from services.delivery.jobs import NOT_FINAL_HANDED, Context
from services.delivery.pacing import wake_sender
from services.delivery.rows import ALERT_TEXTS, TABLES, Table, Unsettled, same_body
from services.delivery.sending import provider_failure
from services.models import AlertDelivery, sender_parts
from services.sms import MessageInfo, SmsError

log = logging.getLogger(__name__)

#: How many handed-over alert texts one poll pass fetches.
POLL_BATCH = 100


class Reconciler:
    """Looks unsettled texts up at Twilio and applies what it finds."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def reconcile(self, now: datetime) -> int:
        """Settle every table's rows with an expired lease; the number looked up successfully."""
        return sum(self._reconcile_table(table, now) for table in TABLES)

    def _reconcile_table(self, table: Table, now: datetime) -> int:
        lease = timedelta(seconds=self.ctx.config.lease_seconds)
        with self.ctx.sessions() as session, session.begin():
            rows = table.take_unsettled(session, now, lease)
        return sum(self._settle(table, row, now) for row in rows)

    def _settle(self, table: Table, unsettled: Unsettled, now: datetime) -> int:
        """Look one attempt up and settle its row; 1 when looked up, 0 when the lookup failed or was moot."""
        from_, service = sender_parts(unsettled.sender_key)
        try:
            found = self.ctx.gateway.find_sent(unsettled.to, from_, service, unsettled.since)
        except SmsError as error:
            log.warning("reconciling %s %s: %s", table.noun, unsettled.row_id, error.reason)
            return 0
        match = self._match(found, unsettled)
        with self.ctx.sessions() as session, session.begin():
            row = table.load(session, unsettled.row_id)
            if row is None or not row.in_flight or row.columns.attempt_id != unsettled.attempt_id:
                return 0
            if match is not None:
                row.settle_found(match, now)
                log.info(
                    "%s %s was accepted by the provider as %s (found on reconcile)",
                    table.noun,
                    unsettled.row_id,
                    match.sid,
                )
            elif row.columns.attempts >= self.ctx.config.max_attempts:
                row.fail(f"Gave up after {row.columns.attempts} attempts", now)
            else:
                # The provider has no such message: it never left, so queue it for a fresh slot.
                row.requeue(now)
                if table.paced:
                    wake_sender(session, unsettled.sender_key, now)
        return 1

    def _match(self, found: list[MessageInfo], unsettled: Unsettled) -> MessageInfo | None:
        """The attempt's message: to that To from that sender, created in its window, with its body.

        Never "a message to that number today": an earlier text of the same day (created before the
        window) or one another row of ours already holds is not this attempt's. A message still queued
        counts like any other (it has no date sent yet, but it has its creation time).
        """
        from_, _service = sender_parts(unsettled.sender_key)
        candidates = [
            m
            for m in found
            if m.to == unsettled.to
            and (from_ is None or m.from_ in (None, from_))
            and (m.date_created is None or m.date_created >= unsettled.since)
            and same_body(m.body, unsettled.body)
        ]
        if not candidates:
            return None
        sids = [m.sid for m in candidates]
        with read_sessions(self.ctx.sessions)() as session:
            used = set[str]().union(*(table.used_sids(session, sids) for table in TABLES))
        fresh = [m for m in candidates if m.sid not in used]
        return fresh[0] if fresh else None

    def poll(self, now: datetime) -> int:
        """Without status callbacks: fetch each handed-over alert text until final; the number fetched."""
        cutoff = now - timedelta(seconds=self.ctx.config.poll_interval_seconds)
        with read_sessions(self.ctx.sessions)() as session:
            rows = session.execute(
                select(AlertDelivery.id, AlertDelivery.twilio_sid)
                .where(
                    AlertDelivery.status.in_(NOT_FINAL_HANDED),
                    AlertDelivery.twilio_sid.is_not(None),
                    AlertDelivery.updated_at <= cutoff,
                )
                .order_by(AlertDelivery.updated_at)
                .limit(POLL_BATCH)
            ).all()
        for row_id, sid in rows:
            try:
                info = self.ctx.gateway.fetch(sid)
            except SmsError as error:
                log.warning("polling %s: %s", sid, error.reason)
                continue
            with self.ctx.sessions() as session, session.begin():
                row = ALERT_TEXTS.load(session, row_id)
                if row is not None:
                    row.settle_found(info, now)
                    provider_failure(session, row, str(info.error_code) if info.error_code else None, now)
        return len(rows)
