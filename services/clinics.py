"""Creating, changing and finding clinics and their users, with every value checked."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.errors import InvalidInput, NotFound
from services.models import Clinic, ClinicUser, Role, utcnow
from services.phones import normalize_phone
from services.sending_hours import DEFAULT_HOURS, SendingHours, parse_hours

_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")
_SLACK_TEAM = re.compile(r"[TE][A-Z0-9]{2,31}")
_SLACK_ENTERPRISE = re.compile(r"E[A-Z0-9]{2,31}")
_SLACK_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,31}")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,31}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_UNSET: Any = object()
log = logging.getLogger(__name__)
#: The settings `clinic add` takes (and `clinic update` changes), as Clinic attributes.
CLINIC_FIELDS = (
    "name",
    "timezone",
    "sms_from",
    "messaging_service_sid",
    "alert_pace_seconds",
    "two_way_texting",
    "slack_team_id",
    "slack_channel_id",
    "contact_phone",
    "sending_hours",
)
_NO_SENDER = "The clinic needs a sending number (+E.164) or a Twilio Messaging Service SID (MG...)."


def record_import(clinic: Clinic, at: datetime | None = None) -> None:
    """Remember that the clinic's appointments were imported `at` (default now, UTC); committed with them."""
    clinic.appointments_imported_at = at or utcnow()


def list_clinics(session: Session) -> list[Clinic]:
    """Every clinic, by name."""
    return list(session.scalars(select(Clinic).order_by(Clinic.name)))


def find_clinic(session: Session, ref: str) -> Clinic:
    """The clinic named `ref` (any letter case) or with id `ref`; NotFound lists the known names."""
    wanted = (ref or "").strip()
    if wanted.isdigit():
        clinic = session.get(Clinic, int(wanted))
        if clinic is not None:
            return clinic
    clinic = session.scalars(select(Clinic).where(func.lower(Clinic.name) == wanted.lower())).first()
    if clinic is not None:
        return clinic
    names = [c.name for c in list_clinics(session)]
    if not names:
        raise NotFound(f"There is no clinic '{wanted}': no clinics have been added yet.")
    known = ", ".join(f"'{n}'" for n in names[:20]) + (" ..." if len(names) > 20 else "")
    raise NotFound(f"There is no clinic '{wanted}'. Known clinics: {known}.")


def _text(value: str | None, field: str, label: str, limit: int) -> str:
    cleaned = " ".join((value or "").split())
    if not cleaned:
        raise InvalidInput(f"The {label} is missing.", field)
    if len(cleaned) > limit:
        raise InvalidInput(f"The {label} is too long (at most {limit} characters).", field)
    return cleaned


def _timezone(value: str | None) -> str:
    zone = (value or "").strip()
    try:
        if not zone:
            raise ValueError(zone)
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"'{zone}' is not a time zone name; use an IANA name such as America/Chicago.", "timezone"
        ) from None
    return zone


def _sender_number(value: str | None, region: str) -> str | None:
    if value is None or not value.strip():
        return None
    result = normalize_phone(value, region)
    if result.e164 is None:
        raise InvalidInput(f"The sending number is unusable: {result.error}.", "sms_from")
    return result.e164


def _messaging_service(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    sid = value.strip()
    if not _MESSAGING_SERVICE.fullmatch(sid):
        raise InvalidInput(
            f"'{sid}' is not a Twilio Messaging Service SID (MG followed by 32 hex characters).",
            "messaging_service_sid",
        )
    return sid


def _pace(value: float | None) -> float | None:
    if value is None:
        return None
    if not value >= 0:
        raise InvalidInput("The alert pace must be zero or more seconds between texts.", "alert_pace_seconds")
    return float(value)


def _enterprise_id(value: str | None) -> str | None:
    """An Enterprise Grid organisation id (E...): OAuth mode finds an org-wide install by it."""
    return _slack_id(
        value, _SLACK_ENTERPRISE, "slack_enterprise_id", "Enterprise Grid organization id (E...)"
    )


def _slack_id(value: str | None, pattern: re.Pattern[str], field: str, what: str) -> str | None:
    if value is None or not value.strip():
        return None
    ident = value.strip()
    if not pattern.fullmatch(ident):
        raise InvalidInput(f"'{value.strip()}' is not a Slack {what}.", field)
    return ident


def _contact_phone(value: str | None, region: str) -> str | None:
    if value is None or not value.strip():
        return None
    result = normalize_phone(value, region, mobile_only=False)
    if result.e164 is None:
        raise InvalidInput(f"The clinic's contact number is unusable: {result.error}.", "contact_phone")
    return result.e164


def _hours(value: str | SendingHours) -> SendingHours:
    """A window given as `HH:MM-HH:MM` or already parsed; InvalidInput (field "sending_hours") when bad."""
    return value if isinstance(value, SendingHours) else parse_hours(value)


def _check_unique_name(session: Session, name: str, own_id: int | None = None) -> None:
    query = select(Clinic.id).where(func.lower(Clinic.name) == name.lower())
    if own_id is not None:
        query = query.where(Clinic.id != own_id)
    if session.scalars(query).first() is not None:
        raise InvalidInput(f"A clinic named '{name}' already exists.", "name")


def add_clinic(
    session: Session,
    *,
    name: str,
    timezone: str,
    sms_from: str | None = None,
    messaging_service_sid: str | None = None,
    alert_pace_seconds: float | None = None,
    two_way_texting: bool = True,
    slack_team_id: str | None = None,
    slack_channel_id: str | None = None,
    contact_phone: str | None = None,
    region: str = "US",
    slack_enterprise_id: str | None = None,
    sending_hours: str | SendingHours = DEFAULT_HOURS,
) -> Clinic:
    """Add a clinic; it needs a sending number or a Messaging Service. Flushed, not committed.

    `sending_hours` is the window alert texts go in (`HH:MM-HH:MM`, services.sending_hours; 08:00-21:00 by
    default)."""
    window = _hours(sending_hours)
    clean_name = _text(name, "name", "clinic name", 200)
    _check_unique_name(session, clean_name)
    sender = _sender_number(sms_from, region)
    service = _messaging_service(messaging_service_sid)
    if sender is None and service is None:
        raise InvalidInput(_NO_SENDER, "sms_from")
    clinic = Clinic(
        name=clean_name,
        timezone=_timezone(timezone),
        sms_from=sender,
        messaging_service_sid=service,
        alert_pace_seconds=_pace(alert_pace_seconds),
        two_way_texting=bool(two_way_texting),
        slack_team_id=_slack_id(slack_team_id, _SLACK_TEAM, "slack_team_id", "workspace id (T...)"),
        slack_channel_id=_slack_id(slack_channel_id, _SLACK_CHANNEL, "slack_channel_id", "channel id (C...)"),
        contact_phone=_contact_phone(contact_phone, region),
        slack_enterprise_id=_enterprise_id(slack_enterprise_id),
        sending_hours_start=window.start,
        sending_hours_end=window.end,
    )
    session.add(clinic)
    session.flush()
    log.info("clinic %s added", clinic.id)
    return clinic


def update_clinic(
    session: Session,
    clinic: Clinic,
    *,
    name: str = _UNSET,
    timezone: str = _UNSET,
    sms_from: str | None = _UNSET,
    messaging_service_sid: str | None = _UNSET,
    alert_pace_seconds: float | None = _UNSET,
    two_way_texting: bool = _UNSET,
    slack_team_id: str | None = _UNSET,
    slack_channel_id: str | None = _UNSET,
    contact_phone: str | None = _UNSET,
    region: str = "US",
    slack_enterprise_id: str | None = _UNSET,
    sending_hours: str | SendingHours = _UNSET,
) -> Clinic:
    """Change the given settings of `clinic` with the same checks as add_clinic. Flushed, not committed.

    Each change is logged (the field names, not the values)."""
    before = {field: getattr(clinic, field) for field in CLINIC_FIELDS}
    if name is not _UNSET:
        clean_name = _text(name, "name", "clinic name", 200)
        _check_unique_name(session, clean_name, clinic.id)
        clinic.name = clean_name
    if timezone is not _UNSET:
        clinic.timezone = _timezone(timezone)
    sender = clinic.sms_from if sms_from is _UNSET else _sender_number(sms_from, region)
    service = clinic.messaging_service_sid
    if messaging_service_sid is not _UNSET:
        service = _messaging_service(messaging_service_sid)
    if sender is None and service is None:
        raise InvalidInput(_NO_SENDER, "sms_from")
    clinic.sms_from, clinic.messaging_service_sid = sender, service
    if alert_pace_seconds is not _UNSET:
        clinic.alert_pace_seconds = _pace(alert_pace_seconds)
    if two_way_texting is not _UNSET:
        clinic.two_way_texting = bool(two_way_texting)
    if slack_team_id is not _UNSET:
        clinic.slack_team_id = _slack_id(slack_team_id, _SLACK_TEAM, "slack_team_id", "workspace id (T...)")
    if slack_enterprise_id is not _UNSET:
        clinic.slack_enterprise_id = _enterprise_id(slack_enterprise_id)
    if slack_channel_id is not _UNSET:
        clinic.slack_channel_id = _slack_id(
            slack_channel_id, _SLACK_CHANNEL, "slack_channel_id", "channel id (C...)"
        )
    if contact_phone is not _UNSET:
        clinic.contact_phone = _contact_phone(contact_phone, region)
    if sending_hours is not _UNSET:
        window = _hours(sending_hours)
        clinic.sending_hours_start, clinic.sending_hours_end = window.start, window.end
    session.flush()
    changed = [field for field, value in before.items() if getattr(clinic, field) != value]
    if changed:
        log.info("clinic %s updated: %s", clinic.id, ", ".join(changed))
    return clinic


def add_user(
    session: Session,
    *,
    clinic: Clinic,
    full_name: str,
    email: str,
    role: str,
    slack_user_id: str | None = None,
    slack_team_id: str | None = None,
) -> ClinicUser:
    """Add a clinic user (admin or staff), optionally linked to a Slack user. Flushed, not committed."""
    clean_name = _text(full_name, "full_name", "user's name", 200)
    address = _email(email)
    role_value = _role(role)
    user_id, team_id = _slack_link(clinic, slack_user_id, slack_team_id)
    _check_unique_user(session, clinic, address, user_id, team_id)
    user = ClinicUser(
        clinic_id=clinic.id,
        full_name=clean_name,
        email=address,
        role=role_value,
        slack_team_id=team_id,
        slack_user_id=user_id,
    )
    session.add(user)
    session.flush()
    log.info("user %s added to clinic %s as %s", user.id, clinic.id, role_value)
    return user


def _email(value: str | None) -> str:
    address = (value or "").strip().lower()
    if not _EMAIL.fullmatch(address) or len(address) > 320:
        raise InvalidInput(f"'{(value or '').strip()}' is not an email address.", "email")
    return address


def _role(value: str | None) -> str:
    role_value = (value or "").strip().lower()
    if role_value not in {r.value for r in Role}:
        raise InvalidInput(f"The role must be 'admin' or 'staff', not '{(value or '').strip()}'.", "role")
    return role_value


def _slack_link(
    clinic: Clinic, slack_user_id: str | None, slack_team_id: str | None
) -> tuple[str | None, str | None]:
    """(user id, workspace id) checked; the workspace defaults to the clinic's when only a user is given."""
    user_id = _slack_id(slack_user_id, _SLACK_USER, "slack_user_id", "user id (U...)")
    team_id = _slack_id(slack_team_id, _SLACK_TEAM, "slack_team_id", "workspace id (T...)")
    if user_id is not None and team_id is None:
        team_id = clinic.slack_team_id
        if team_id is None:
            raise InvalidInput(
                f"Clinic '{clinic.name}' has no Slack workspace; "
                "give the user's Slack workspace id (T...) too.",
                "slack_team_id",
            )
    if user_id is None and team_id is not None:
        raise InvalidInput("A Slack workspace was given without the Slack user id (U...).", "slack_user_id")
    return user_id, team_id


def _check_unique_user(
    session: Session,
    clinic: Clinic,
    address: str,
    user_id: str | None,
    team_id: str | None,
    own_id: int | None = None,
) -> None:
    """InvalidInput when another user of `clinic` has this email or this Slack link."""
    others = select(ClinicUser).where(ClinicUser.clinic_id == clinic.id)
    if own_id is not None:
        others = others.where(ClinicUser.id != own_id)
    if session.scalars(others.where(ClinicUser.email == address)).first() is not None:
        raise InvalidInput(f"{address} is already a user of clinic '{clinic.name}'.", "email")
    if user_id is not None:
        linked = session.scalars(
            others.where(ClinicUser.slack_team_id == team_id, ClinicUser.slack_user_id == user_id)
        ).first()
        if linked is not None:
            raise InvalidInput(
                f"Slack user {user_id} is already linked to {linked.full_name} in clinic '{clinic.name}'.",
                "slack_user_id",
            )


def list_users(session: Session, clinic: Clinic | None = None) -> list[ClinicUser]:
    """Every user (of `clinic` when given), by clinic then name."""
    query = select(ClinicUser).join(Clinic).order_by(Clinic.name, ClinicUser.full_name, ClinicUser.id)
    if clinic is not None:
        query = query.where(ClinicUser.clinic_id == clinic.id)
    return list(session.scalars(query))


def find_user(session: Session, clinic: Clinic, ref: str) -> ClinicUser:
    """The user of `clinic` with email, Slack user id or numeric id `ref`; NotFound lists the known emails."""
    wanted = (ref or "").strip()
    users = list_users(session, clinic)
    for user in users:
        if wanted.lower() == user.email or wanted == user.slack_user_id or wanted == str(user.id):
            return user
    known = ", ".join(u.email for u in users[:20]) + (" ..." if len(users) > 20 else "")
    if not users:
        raise NotFound(f"Clinic '{clinic.name}' has no users yet; add one with: mass-alert user add")
    raise NotFound(f"Clinic '{clinic.name}' has no user '{wanted}'. Its users: {known}.")


def update_user(
    session: Session,
    user: ClinicUser,
    *,
    full_name: str = _UNSET,
    email: str = _UNSET,
    role: str = _UNSET,
    slack_user_id: str | None = _UNSET,
    slack_team_id: str | None = _UNSET,
) -> list[str]:
    """Change the given fields with add_user's checks; the names of the fields that changed. Flushed.

    A Slack user id of "" (or None) unlinks the user from Slack.
    """
    clinic = user.clinic
    before = {
        "full_name": user.full_name,
        "email": user.email,
        "role": user.role,
        "slack_user_id": user.slack_user_id,
        "slack_team_id": user.slack_team_id,
    }
    after = dict(before)
    if full_name is not _UNSET:
        after["full_name"] = _text(full_name, "full_name", "user's name", 200)
    if email is not _UNSET:
        after["email"] = _email(email)
    if role is not _UNSET:
        after["role"] = _role(role)
    if slack_user_id is not _UNSET or slack_team_id is not _UNSET:
        wanted_user = user.slack_user_id if slack_user_id is _UNSET else slack_user_id
        wanted_team = None if slack_team_id is _UNSET else slack_team_id
        after["slack_user_id"], after["slack_team_id"] = _slack_link(clinic, wanted_user, wanted_team)
    # Checked before anything is assigned: a query would autoflush a duplicate into the unique index.
    _check_unique_user(
        session, clinic, str(after["email"]), after["slack_user_id"], after["slack_team_id"], user.id
    )
    for name, value in after.items():
        setattr(user, name, value)
    session.flush()
    changed = [name for name, value in before.items() if getattr(user, name) != value]
    if changed:
        log.info("user %s of clinic %s updated: %s", user.id, clinic.id, ", ".join(changed))
    return changed


def remove_user(session: Session, user: ClinicUser) -> None:
    """Delete the user; alerts they sent keep their name (created_by_name). Flushed, not committed."""
    user_id, clinic_id = user.id, user.clinic_id
    session.delete(user)
    session.flush()
    log.info("user %s removed from clinic %s", user_id, clinic_id)
