"""Who may send: Slack identity -> clinic user -> Admin of a clinic with two-way texting on."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from services.errors import DomainError
from services.models import Clinic, ClinicUser, Role


class Refusal(enum.StrEnum):
    """Why a Slack user may not send a mass alert."""

    OTHER_ORGANISATION = "other_organisation"
    WORKSPACE_NOT_LINKED = "workspace_not_linked"
    NOT_LINKED = "not_linked"
    NOT_ADMIN = "not_admin"
    TEXTING_OFF = "texting_off"
    NOT_IN_CLINIC = "not_in_clinic"


class NotAuthorized(DomainError):
    """The Slack user may not send mass alerts; the message says why and what to do."""

    def __init__(self, message: str, reason: Refusal) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ClinicChoice:
    """A clinic the user may send for, as that clinic's user."""

    clinic_id: int
    clinic_name: str
    clinic_user_id: int
    user_full_name: str


@dataclass(frozen=True)
class Authorized:
    """The clinics the user may send for; the channel's linked clinic comes first."""

    choices: list[ClinicChoice]

    @property
    def single(self) -> ClinicChoice | None:
        """The only choice when there is exactly one."""
        return self.choices[0] if len(self.choices) == 1 else None


def _memberships(
    session: Session, team_id: str, user_id: str, email: str | None
) -> list[tuple[ClinicUser, Clinic]]:
    """The user's clinic-user rows: explicit Slack links, else email matches in this workspace's clinics."""
    linked = session.execute(
        select(ClinicUser, Clinic)
        .join(Clinic, Clinic.id == ClinicUser.clinic_id)
        .where(
            ClinicUser.slack_team_id == team_id,
            ClinicUser.slack_user_id == user_id,
            # Workspace isolation: never a clinic linked to another workspace (issue 16).
            or_(Clinic.slack_team_id.is_(None), Clinic.slack_team_id == team_id),
        )
    ).all()
    found: dict[int, tuple[ClinicUser, Clinic]] = {clinic.id: (user, clinic) for user, clinic in linked}
    address = (email or "").strip().lower()
    if address:
        by_email = session.execute(
            select(ClinicUser, Clinic)
            .join(Clinic, Clinic.id == ClinicUser.clinic_id)
            .where(
                Clinic.slack_team_id == team_id,
                func.lower(ClinicUser.email) == address,
                # A row already linked to another Slack account is that person's, not this one's.
                or_(ClinicUser.slack_user_id.is_(None), ClinicUser.slack_team_id != team_id),
            )
        ).all()
        for user, clinic in by_email:
            found.setdefault(clinic.id, (user, clinic))
    return list(found.values())


@dataclass(frozen=True)
class Membership:
    """A clinic the Slack user belongs to, whatever their role: what App Home may show them."""

    clinic_id: int
    clinic_name: str
    timezone: str
    can_send: bool


def memberships(session: Session, *, team_id: str, user_id: str, email: str | None) -> list[Membership]:
    """Every clinic this Slack user is a clinic user of (Staff too), by name; `can_send` as `authorize`."""
    found = [
        Membership(clinic.id, clinic.name, clinic.timezone, _refusal(user, clinic) is None)
        for user, clinic in _memberships(session, team_id, user_id, email)
    ]
    return sorted(found, key=lambda m: (m.clinic_name.lower(), m.clinic_id))


def not_linked(session: Session, team_id: str, email: str | None) -> NotAuthorized:
    """The refusal for a Slack user who matches no clinic user (it says what to do)."""
    workspace_clinics = session.scalar(
        select(func.count()).select_from(Clinic).where(Clinic.slack_team_id == team_id)
    )
    if not workspace_clinics:
        return NotAuthorized(
            "This Slack workspace is not linked to a clinic yet, so mass text alerts cannot be sent from it. "
            "Ask the person who installed the app to link the workspace to your clinic.",
            Refusal.WORKSPACE_NOT_LINKED,
        )
    if email:
        return NotAuthorized(
            f"Your Slack account is not linked to a clinic user yet: no clinic user has the email {email}. "
            "Ask a clinic admin to add you as a clinic user with that email, or to link your Slack account.",
            Refusal.NOT_LINKED,
        )
    return NotAuthorized(
        "Your Slack account is not linked to a clinic user yet, and Slack did not share your email address "
        "to look you up. Ask a clinic admin to link your Slack account to your clinic user.",
        Refusal.NOT_LINKED,
    )


def _refusal(user: ClinicUser, clinic: Clinic) -> NotAuthorized | None:
    """Why this clinic user may not send for this clinic, or None when they may."""
    if user.role != Role.ADMIN:
        return NotAuthorized(
            f"You are a Staff user of {clinic.name}; only Admins can send mass text alerts. "
            f"Ask an Admin of {clinic.name} to send it, or to give you the Admin role.",
            Refusal.NOT_ADMIN,
        )
    if not clinic.two_way_texting:
        return NotAuthorized(
            f"Two-way texting is off for {clinic.name}, and mass text alerts need it. "
            "Turn on two-way texting for the clinic, then try again.",
            Refusal.TEXTING_OFF,
        )
    return None


def authorize(
    session: Session,
    *,
    team_id: str,
    user_id: str,
    email: str | None,
    channel_id: str | None = None,
    user_team_id: str | None = None,
    clinic_id: int | None = None,
) -> Authorized:
    """The clinics this Slack user may send for, or NotAuthorized with the reason and what to do."""
    if user_team_id is not None and user_team_id != team_id:
        raise NotAuthorized(
            "You are in another Slack organisation (this is a shared channel). Mass text alerts can only be "
            "sent by members of the clinic's own Slack workspace; ask someone at the clinic to send it.",
            Refusal.OTHER_ORGANISATION,
        )
    memberships = _memberships(session, team_id, user_id, email)
    if not memberships:
        raise not_linked(session, team_id, email)
    if clinic_id is not None:
        memberships = [(user, clinic) for user, clinic in memberships if clinic.id == clinic_id]
        if not memberships:
            raise NotAuthorized(
                "You are not a clinic user of that clinic, so you cannot send mass text alerts for it. "
                "Choose one of your clinics, or ask that clinic's admin to add you.",
                Refusal.NOT_IN_CLINIC,
            )
    # The channel's own clinic first, then by name: its reason is the one shown when all are refused.
    memberships.sort(
        key=lambda pair: (
            channel_id is None or pair[1].slack_channel_id != channel_id,
            pair[1].name.lower(),
            pair[1].id,
        )
    )
    choices: list[ClinicChoice] = []
    refusals: list[NotAuthorized] = []
    for user, clinic in memberships:
        refusal = _refusal(user, clinic)
        if refusal is None:
            choices.append(ClinicChoice(clinic.id, clinic.name, user.id, user.full_name))
        else:
            refusals.append(refusal)
    if not choices:
        if len(refusals) == 1:
            raise refusals[0]
        # Several clinics, none allowed: every clinic's reason, the first one's code.
        raise NotAuthorized(" ".join(str(r) for r in refusals), refusals[0].reason)
    return Authorized(choices)
