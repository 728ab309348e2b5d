"""STOP / START / HELP: which texts are keywords, what each does to the clinic's clients, the confirmation.

A keyword takes effect in the transaction that records the text: every client of the clinic with that
number is marked, their pending alert texts are skipped and queued staff answers are failed. The words are
those Twilio's Advanced Opt-Out recognises by default (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, plus
REVOKE and OPTOUT; START, UNSTOP, YES; HELP, INFO), matched on the whole text in any case.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.conversations.common import OUTBOUND, ClinicRow
from services.models import (
    AlertDelivery,
    AlertState,
    Client,
    ConversationMessage,
    DeliveryStatus,
    MassAlert,
    OptOutSource,
    SkipReason,
)

OPTED_OUT_DETAIL = "Opted out while the alert was sending"
#: Why a client Twilio refused with 21610 is skipped (the preview, the modal's list and the report say so).
CARRIER_OPT_OUT_DETAIL = "Opted out with the carrier: Twilio blocks texts to this number (Twilio 21610)"


class Keyword(enum.StrEnum):
    """What a keyword text asks for."""

    STOP = "stop"
    START = "start"
    HELP = "help"


STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_INNER = re.compile(r"[\s\-_.]+")


def parse_keyword(body: str) -> tuple[Keyword, str] | None:
    """The keyword a whole text is (any case, surrounding spaces or punctuation), with the word as typed."""
    word = _EDGES.sub("", body.strip())
    if not word or len(word) > 20:
        return None
    compact = _INNER.sub("", word).upper()
    if not compact.isalpha():
        return None
    if compact in STOP_WORDS:
        return Keyword.STOP, compact
    if compact in START_WORDS:
        return Keyword.START, compact
    if compact in HELP_WORDS:
        return Keyword.HELP, compact
    return None


#: Twilio's OptOutType values (Advanced Opt-Out adds the field to the inbound webhook) -> our keyword.
OPT_OUT_TYPES = {"STOP": Keyword.STOP, "START": Keyword.START, "HELP": Keyword.HELP}


def keyword_of(body: str, opt_out_type: str | None) -> tuple[Keyword, str] | None:
    """The keyword a text is: Twilio's OptOutType when the webhook carries one (it also covers an account's
    custom and non-English keywords, so it wins over our list), else `parse_keyword`'s reading of `body`.

    The word is the text as typed, upper-cased, for the thread's notice.
    """
    if opt_out_type:
        kind = OPT_OUT_TYPES.get(opt_out_type.strip().upper())
        if kind is not None:
            return kind, body.strip().upper()[:20] or kind.upper()
    return parse_keyword(body)


def confirmation(keyword: Keyword, clinic: ClinicRow) -> str:
    """The one text answering a keyword (the clinic's name; HELP adds its contact number)."""
    name = clinic.name
    if keyword == Keyword.STOP:
        return (
            f"You are unsubscribed from {name} texts and will get no more messages from this number. "
            "Reply START to resubscribe."
        )
    if keyword == Keyword.START:
        return f"You are resubscribed to {name} texts. Reply HELP for help, STOP to unsubscribe."
    contact = f"call {clinic.contact_phone}" if clinic.contact_phone else "reply to this text"
    return f"{name}: for help, {contact}. Reply STOP to unsubscribe, START to resubscribe."


def opt_out(
    session: Session, clinic: ClinicRow, phone: str, client_ids: tuple[int, ...], now: datetime
) -> int:
    """Mark every client on the number opted out; skip their unsent alert texts and queued answers."""
    changed = _mark_opted_out(session, clinic.id, phone, OptOutSource.KEYWORD, now)
    _skip_pending(session, clinic.id, client_ids, OPTED_OUT_DETAIL, now)
    if clinic.sender_key is not None:
        session.execute(
            update(ConversationMessage)
            .where(
                ConversationMessage.direction == OUTBOUND,
                ConversationMessage.status == "queued",
                ConversationMessage.sender_key == clinic.sender_key,
                ConversationMessage.to_phone == phone,
            )
            .values(status="failed", error_message="Not sent: the client opted out (replied STOP)")
        )
    return changed


def opt_in(session: Session, clinic: ClinicRow, phone: str) -> int:
    """Clear the opt-out of every client of the clinic on the number; how many changed."""
    return (
        session.connection()
        .execute(
            update(Client)
            .where(
                Client.clinic_id == clinic.id, Client.phone_e164 == phone, Client.opted_out_at.is_not(None)
            )
            .values(opted_out_at=None, opted_out_source=None)
        )
        .rowcount
        or 0
    )


def _mark_opted_out(session: Session, clinic_id: int, phone: str, source: OptOutSource, now: datetime) -> int:
    """Mark the clinic's clients on `phone` opted out (from `source`); how many were not already."""
    return (
        session.connection()
        .execute(
            update(Client)
            .where(Client.clinic_id == clinic_id, Client.phone_e164 == phone, Client.opted_out_at.is_(None))
            .values(opted_out_at=now, opted_out_source=source)
        )
        .rowcount
        or 0
    )


def _skip_pending(
    session: Session, clinic_id: int, client_ids: tuple[int, ...], detail: str, now: datetime
) -> None:
    """Skip (opted out) the clients' alert texts still waiting in the clinic's running alerts."""
    if not client_ids:
        return
    running = select(MassAlert.id).where(
        MassAlert.clinic_id == clinic_id, MassAlert.state.in_((AlertState.QUEUED, AlertState.SENDING))
    )
    session.execute(
        update(AlertDelivery)
        .where(
            AlertDelivery.alert_id.in_(running),
            AlertDelivery.client_id.in_(client_ids),
            AlertDelivery.status == DeliveryStatus.PENDING,
        )
        .values(
            status=DeliveryStatus.SKIPPED,
            skip_reason=SkipReason.OPTED_OUT,
            skip_detail=detail,
            final_at=now,
            updated_at=now,
        )
    )


def carrier_opt_out(session: Session, clinic_id: int, phone: str, now: datetime) -> int:
    """Twilio refused a text with 21610 (the number replied STOP to the sender): record every client of
    the clinic on `phone` as opted out (source: carrier) and skip their waiting alert texts, so the next
    alert leaves them out before sending. Returns how many clients were newly marked."""
    changed = _mark_opted_out(session, clinic_id, phone, OptOutSource.CARRIER, now)
    ids = tuple(
        session.scalars(select(Client.id).where(Client.clinic_id == clinic_id, Client.phone_e164 == phone))
    )
    _skip_pending(session, clinic_id, ids, CARRIER_OPT_OUT_DETAIL, now)
    return changed
