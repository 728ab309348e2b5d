"""Who may send: Slack link or email, Admin role, two-way texting, shared channels, several clinics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from services.authorization import Authorized, ClinicChoice, NotAuthorized, Refusal, authorize
from services.models import Role
from tests.integration.recipient_builders import Builder

TEAM = "T0CLINIC"


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as s:
        yield s


def refusal(session: Session, **kwargs: Any) -> NotAuthorized:
    """The NotAuthorized that authorize raises for these arguments."""
    args: dict[str, Any] = {"team_id": TEAM, "user_id": "U1", "email": "ana@example.org", **kwargs}
    with pytest.raises(NotAuthorized) as caught:
        authorize(session, **args)
    return caught.value


def test_an_explicitly_linked_admin_may_send(session: Session) -> None:
    b = Builder(session)
    clinic = b.clinic("Happy Paws", slack_team_id=TEAM)
    user = b.user(clinic, "someone-else@example.org", slack_team_id=TEAM, slack_user_id="U1")
    result = authorize(session, team_id=TEAM, user_id="U1", email=None)
    assert result == Authorized([ClinicChoice(clinic.id, "Happy Paws", user.id, "Ana Lee")])
    assert result.single == result.choices[0]


def test_an_email_match_is_case_insensitive(session: Session) -> None:
    b = Builder(session)
    clinic = b.clinic("Happy Paws", slack_team_id=TEAM)
    user = b.user(clinic, "ana.lee@example.org")
    result = authorize(session, team_id=TEAM, user_id="U1", email="Ana.Lee@Example.ORG")
    assert [c.clinic_user_id for c in result.choices] == [user.id]


def test_email_matches_only_count_in_clinics_linked_to_this_workspace(session: Session) -> None:
    b = Builder(session)
    b.clinic("Own Workspace", slack_team_id=TEAM)
    other = b.clinic("Elsewhere", slack_team_id="T0OTHER")
    b.user(other, "ana@example.org")
    error = refusal(session)
    assert error.reason is Refusal.NOT_LINKED
    assert str(error) == (
        "Your Slack account is not linked to a clinic user yet: "
        "no clinic user has the email ana@example.org. "
        "Ask a clinic admin to add you as a clinic user with that email, or to link your Slack account."
    )


def test_a_clinic_user_linked_to_another_slack_account_is_not_matched_by_email(session: Session) -> None:
    b = Builder(session)
    clinic = b.clinic("Happy Paws", slack_team_id=TEAM)
    b.user(clinic, "ana@example.org", slack_team_id=TEAM, slack_user_id="U_SOMEONE_ELSE")
    assert refusal(session).reason is Refusal.NOT_LINKED


def test_the_explicit_link_wins_over_an_email_match_in_the_same_clinic(session: Session) -> None:
    b = Builder(session)
    clinic = b.clinic("Happy Paws", slack_team_id=TEAM)
    b.user(clinic, "ana@example.org", role=Role.ADMIN, name="By Email")
    b.user(
        clinic, "front@example.org", role=Role.STAFF, name="By Link", slack_team_id=TEAM, slack_user_id="U1"
    )
    error = refusal(session)
    assert error.reason is Refusal.NOT_ADMIN


def test_no_email_from_slack_and_no_link_says_so(session: Session) -> None:
    Builder(session).clinic("Happy Paws", slack_team_id=TEAM)
    error = refusal(session, email=None)
    assert error.reason is Refusal.NOT_LINKED
    assert str(error) == (
        "Your Slack account is not linked to a clinic user yet, and Slack did not share your email address "
        "to look you up. Ask a clinic admin to link your Slack account to your clinic user."
    )


def test_a_workspace_with_no_clinic_says_so(session: Session) -> None:
    error = refusal(session)
    assert error.reason is Refusal.WORKSPACE_NOT_LINKED
    assert str(error) == (
        "This Slack workspace is not linked to a clinic yet, so mass text alerts cannot be sent from it. "
        "Ask the person who installed the app to link the workspace to your clinic."
    )


def test_a_staff_user_is_told_to_ask_an_admin(session: Session) -> None:
    b = Builder(session)
    clinic = b.clinic("Happy Paws", slack_team_id=TEAM)
    b.user(clinic, "ana@example.org", role=Role.STAFF)
    error = refusal(session)
    assert error.reason is Refusal.NOT_ADMIN
    assert str(error) == (
        "You are a Staff user of Happy Paws; only Admins can send mass text alerts. "
        "Ask an Admin of Happy Paws to send it, or to give you the Admin role."
    )


def test_an_admin_of_a_clinic_without_two_way_texting_is_refused(session: Session) -> None:
    b = Builder(session)
    clinic = b.clinic("Happy Paws", slack_team_id=TEAM, two_way_texting=False)
    b.user(clinic, "ana@example.org")
    error = refusal(session)
    assert error.reason is Refusal.TEXTING_OFF
    assert str(error) == (
        "Two-way texting is off for Happy Paws, and mass text alerts need it. "
        "Turn on two-way texting for the clinic, then try again."
    )


def test_a_user_of_another_slack_organisation_is_refused_even_when_linked(session: Session) -> None:
    b = Builder(session)
    clinic = b.clinic("Happy Paws", slack_team_id=TEAM)
    b.user(clinic, "ana@example.org", slack_team_id=TEAM, slack_user_id="U1")
    error = refusal(session, user_team_id="T0PARTNER")
    assert error.reason is Refusal.OTHER_ORGANISATION
    assert str(error) == (
        "You are in another Slack organisation (this is a shared channel). Mass text alerts can only be "
        "sent by members of the clinic's own Slack workspace; ask someone at the clinic to send it."
    )


def test_the_same_team_given_as_the_users_team_is_fine(session: Session) -> None:
    b = Builder(session)
    b.user(b.clinic("Happy Paws", slack_team_id=TEAM), "ana@example.org")
    assert (
        len(
            authorize(session, team_id=TEAM, user_id="U1", email="ana@example.org", user_team_id=TEAM).choices
        )
        == 1
    )


def test_an_admin_of_several_clinics_gets_the_channels_clinic_first_and_only_allowed_ones(
    session: Session,
) -> None:
    b = Builder(session)
    north = b.clinic("North", slack_team_id=TEAM, slack_channel_id="C_NORTH")
    alpha = b.clinic("Alpha", slack_team_id=TEAM, slack_channel_id="C_ALPHA")
    zulu = b.clinic("Zulu", slack_team_id=TEAM, slack_channel_id="C_ZULU")
    staff_only = b.clinic("Beta", slack_team_id=TEAM)
    for clinic in (north, alpha, zulu):
        b.user(clinic, "ana@example.org")
    b.user(staff_only, "ana@example.org", role=Role.STAFF)
    in_zulu = authorize(session, team_id=TEAM, user_id="U1", email="ana@example.org", channel_id="C_ZULU")
    assert [c.clinic_name for c in in_zulu.choices] == ["Zulu", "Alpha", "North"]
    assert in_zulu.single is None
    elsewhere = authorize(session, team_id=TEAM, user_id="U1", email="ana@example.org", channel_id="C_RANDOM")
    assert [c.clinic_name for c in elsewhere.choices] == ["Alpha", "North", "Zulu"]


def test_clinic_id_narrows_the_choice_to_that_clinic(session: Session) -> None:
    b = Builder(session)
    first = b.clinic("First", slack_team_id=TEAM)
    second = b.clinic("Second", slack_team_id=TEAM)
    b.user(first, "ana@example.org")
    b.user(second, "ana@example.org")
    result = authorize(session, team_id=TEAM, user_id="U1", email="ana@example.org", clinic_id=second.id)
    assert [c.clinic_id for c in result.choices] == [second.id]


def test_clinic_id_of_a_clinic_the_user_is_not_in_is_refused(session: Session) -> None:
    b = Builder(session)
    b.user(b.clinic("Mine", slack_team_id=TEAM), "ana@example.org")
    theirs = b.clinic("Theirs", slack_team_id=TEAM)
    error = refusal(session, clinic_id=theirs.id)
    assert error.reason is Refusal.NOT_IN_CLINIC
    assert str(error) == (
        "You are not a clinic user of that clinic, so you cannot send mass text alerts for it. "
        "Choose one of your clinics, or ask that clinic's admin to add you."
    )


def test_clinic_id_of_a_clinic_where_the_user_is_staff_gives_that_reason(session: Session) -> None:
    b = Builder(session)
    b.user(b.clinic("Mine", slack_team_id=TEAM), "ana@example.org")
    staff_at = b.clinic("Staff Here", slack_team_id=TEAM)
    b.user(staff_at, "ana@example.org", role=Role.STAFF)
    error = refusal(session, clinic_id=staff_at.id)
    assert error.reason is Refusal.NOT_ADMIN
    assert "Staff user of Staff Here" in str(error)


def test_several_clinics_all_refused_names_every_reason_channel_clinic_first(session: Session) -> None:
    b = Builder(session)
    b.user(b.clinic("Alpha", slack_team_id=TEAM), "ana@example.org", role=Role.STAFF)
    b.user(
        b.clinic("Omega", slack_team_id=TEAM, slack_channel_id="C1", two_way_texting=False), "ana@example.org"
    )
    error = refusal(session, channel_id="C1")
    assert error.reason is Refusal.TEXTING_OFF
    assert str(error).startswith("Two-way texting is off for Omega")
    assert "You are a Staff user of Alpha" in str(error)
