"""Twilio status callbacks (`/twilio/status`): the provider's word applied to the row, forward-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from services.delivery.rows import ALERT_TEXTS, STAFF_REPLIES, AlertText, Table, TextRow
from services.delivery.sending import record_alert_failure
from services.delivery.status import provider_status
from services.twilio_errors import is_stop


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
            if table is ALERT_TEXTS and code is not None and isinstance(row, AlertText):
                # A sender error Twilio reports after accepting (30034 unregistered 10DLC, 30032
                # toll-free not verified) stops the alert as it would at create.
                reason = row.columns.error_message or code
                to = row.row.phone_e164 or ""
                record_alert_failure(session, row.row.alert_id, code, to, reason, now, stops=is_stop(code))
    return True
