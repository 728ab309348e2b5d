"""Twilio status callbacks (`/twilio/status`): the provider's word applied to the row, forward-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from services.delivery.rows import ALERT_TEXTS, STAFF_REPLIES, Table, TextRow
from services.delivery.sending import provider_failure
from services.delivery.status import provider_status


def _target(params: dict[str, str]) -> tuple[Table, str | None]:
    """The table our callback URL names (`m=` staff reply, `d=` alert text; neither: alert text by SID)."""
    for table in (STAFF_REPLIES, ALERT_TEXTS):
        if table.callback_key in params:
            return table, params[table.callback_key]
    return ALERT_TEXTS, None


def apply_status_callback(sessions: sessionmaker[Session], params: dict[str, str], now: datetime) -> bool:
    """Apply one status callback (Twilio's form fields); duplicates and stale ones are harmless.

    Returns False when the callback names no row of ours (or another attempt's message), else True.
    """
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not status:
        return False
    table, row_id = _target(params)
    with sessions() as session, session.begin():
        row: TextRow | None
        if row_id is not None and row_id.isdigit():
            row = table.load(session, int(row_id))
        else:
            row = table.load_by_sid(session, sid)
        if row is None:
            return False
        if row.columns.twilio_sid not in (None, sid):
            return False  # a callback for another attempt's message; ignore
        code = params.get("ErrorCode") or None
        if row.settle(sid, provider_status(status), code, now):
            row.touch(now)
            provider_failure(session, row, code, now)
    return True
