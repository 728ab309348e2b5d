"""Plain words for delivery outcomes: the report's SMS Status and the status line's categories."""

from __future__ import annotations

from dataclasses import dataclass

from services.models import DeliveryStatus, SkipReason

#: The report's SMS Status column, by delivery status.
SMS_STATUS = {
    DeliveryStatus.DELIVERED: "Delivered",
    DeliveryStatus.SENT: "Sent",
    DeliveryStatus.ACCEPTED: "Sent",
    DeliveryStatus.FAILED: "Failed",
    DeliveryStatus.UNDELIVERED: "Undelivered",
    DeliveryStatus.SKIPPED: "Not sent",
    DeliveryStatus.PENDING: "Not sent",
    DeliveryStatus.SENDING: "Sent",
    DeliveryStatus.IN_DOUBT: "Sent",
}


@dataclass(frozen=True)
class SkipWords:
    """How one skip reason reads in each place it is shown.

    `one`/`many` follow a count in the compose modal ('1 has no mobile number', '3 have no mobile
    number'), `heading` titles its group in the "See who" list, `report` fills the CSV's Error Details.
    """

    one: str
    many: str
    heading: str
    report: str


#: The one table of skip reasons (services.models.SkipReason); the views and the CSV report read it.
SKIP_REASONS: dict[SkipReason, SkipWords] = {
    SkipReason.OPTED_OUT: SkipWords("opted out", "opted out", "Opted out", "Not sent: opted out"),
    SkipReason.NO_MOBILE: SkipWords(
        "has no mobile number",
        "have no mobile number",
        "No mobile number",
        "Not sent: no usable mobile number",
    ),
    SkipReason.SHARED_PHONE: SkipWords(
        "shares a phone number already texted",
        "share a phone number already texted",
        "Phone number shared with a client already texted",
        "Not sent: phone number shared with another client",
    ),
    SkipReason.CANCELLED: SkipWords(
        "was cancelled", "were cancelled", "Cancelled", "Not sent: alert cancelled"
    ),
    SkipReason.ALERT_STOPPED: SkipWords(
        "was not sent: the alert stopped",
        "were not sent: the alert stopped",
        "Alert stopped",
        "Not sent: alert stopped",
    ),
    SkipReason.PET_DECEASED: SkipWords(
        "has appointments only for a deceased pet",
        "have appointments only for deceased pets",
        "Appointments only for a deceased pet",
        "Not sent: pet deceased",
    ),
    # The article's send-time rule, checked at each text's turn: "clients with an appointment in the
    # future at the time the text is sent".
    SkipReason.APPOINTMENT_STARTED: SkipWords(
        "had an appointment that already started",
        "had appointments that already started",
        "Appointment already started",
        "Not sent: appointment already started",
    ),
    SkipReason.NOT_BOOKED: SkipWords(
        "is no longer booked in this range",
        "are no longer booked in this range",
        "No longer booked in this range",
        "Not sent: no longer booked in this range",
    ),
}


def skip_words(reason: str) -> SkipWords:
    """The words of a skip reason; an unknown one reads as its own name ('some_reason' -> 'some reason')."""
    try:
        return SKIP_REASONS[SkipReason(reason)]
    except ValueError:
        words = reason.replace("_", " ")
        return SkipWords(words, words, words.capitalize(), "Not sent")


#: Error code -> (singular, plural) short category for "3 of 42 failed · 2 landlines, 1 unreachable".
_CATEGORIES: dict[str, tuple[str, str]] = {
    "21211": ("invalid number", "invalid numbers"),
    "21612": ("unroutable number", "unroutable numbers"),
    "21614": ("landline", "landlines"),
    "30006": ("landline", "landlines"),
    "21610": ("opted out with the carrier", "opted out with the carrier"),
    "30004": ("blocked", "blocked"),
    "30003": ("unreachable", "unreachable"),
    "30005": ("unknown number", "unknown numbers"),
    "30007": ("filtered by the carrier", "filtered by the carrier"),
    "21617": ("message too long", "messages too long"),
    "21408": ("region not enabled", "region not enabled"),
    "30036": ("expired in the carrier queue", "expired in the carrier queue"),
}


def category(code: str | int | None) -> str:
    """The short category key of an error code (used for counting)."""
    if code is None:
        return "other error"
    return _CATEGORIES.get(str(code), ("other error", "other errors"))[0]


def plural_category(name: str, count: int) -> str:
    """'1 landline', '2 landlines'."""
    for singular, plural in _CATEGORIES.values():
        if singular == name:
            return f"{count} {singular if count == 1 else plural}"
    return f"{count} {name if count == 1 else 'other errors' if name == 'other error' else name}"


def sms_status(status: str) -> str:
    """The report's plain SMS Status for a delivery status."""
    return SMS_STATUS.get(DeliveryStatus(status), status.title())
