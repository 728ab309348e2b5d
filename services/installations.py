"""Linking a clinic the operator created without a Slack workspace to the workspace its admin installed
the app in (OAuth mode, from App Home; issue 16)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.errors import NotFound
from services.models import Clinic, ClinicUser, Role


@dataclass(frozen=True)
class UnlinkedClinic:
    """A clinic with no Slack workspace whose Admin the Slack user is (by their Slack email)."""

    clinic_id: int
    name: str


def _admin_rows(
    session: Session, email: str, clinic_id: int | None = None
) -> list[tuple[ClinicUser, Clinic]]:
    query = (
        select(ClinicUser, Clinic)
        .join(Clinic, Clinic.id == ClinicUser.clinic_id)
        .where(
            Clinic.slack_team_id.is_(None),
            ClinicUser.role == Role.ADMIN,
            func.lower(ClinicUser.email) == email.strip().lower(),
        )
        .order_by(Clinic.name, Clinic.id)
    )
    if clinic_id is not None:
        query = query.where(Clinic.id == clinic_id)
    return [(user, clinic) for user, clinic in session.execute(query).all()]


def unlinked_clinics(sessions: sessionmaker[Session], email: str | None) -> list[UnlinkedClinic]:
    """Clinics with no workspace where `email` is an Admin; [] without an email."""
    if not email or not email.strip():
        return []
    with sessions() as session:
        return [UnlinkedClinic(clinic.id, clinic.name) for _, clinic in _admin_rows(session, email)]


def link_clinic(
    sessions: sessionmaker[Session],
    clinic_id: int,
    *,
    email: str | None,
    team_id: str,
    enterprise_id: str | None,
    user_id: str,
) -> str:
    """Link an unlinked clinic to the Slack workspace `team_id` (and Enterprise Grid org) and the Admin's
    clinic user to their Slack account; the clinic's name. NotFound when the clinic is already linked or
    the person is not one of its Admins (by email), so nobody can take over another workspace's clinic."""
    with sessions() as session, session.begin():
        rows = _admin_rows(session, email or "", clinic_id) if email else []
        if not rows:
            raise NotFound(
                "That clinic is already linked to a Slack workspace, or you are not one of its Admins. "
                "Ask whoever runs the Mass Text Alerts app to link it."
            )
        user, clinic = rows[0]
        clinic.slack_team_id = team_id
        clinic.slack_enterprise_id = enterprise_id
        if user.slack_user_id is None:
            user.slack_team_id, user.slack_user_id = team_id, user_id
        return clinic.name
