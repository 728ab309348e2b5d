"""Plain words for delivery outcomes: the report's SMS Status and the status line's categories."""

from __future__ import annotations

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

SKIP_WORDS = {
    SkipReason.OPTED_OUT: "Not sent: opted out",
    SkipReason.NO_MOBILE: "Not sent: no usable mobile number",
    SkipReason.SHARED_PHONE: "Not sent: phone number shared with another client",
    SkipReason.CANCELLED: "Not sent: alert cancelled",
    SkipReason.ALERT_STOPPED: "Not sent: alert stopped",
    SkipReason.PET_DECEASED: "Not sent: pet deceased",
}

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
