"""Clinics and clinic users: every value checked with a message an admin understands."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from services.clinics import add_clinic, add_user, find_clinic, list_clinics, update_clinic
from services.db import transaction
from services.errors import InvalidInput, NotFound
from services.models import Clinic


def _clinic(session: Session, name: str = "Happy Paws", **changes: Any) -> Clinic:
    values: dict[str, Any] = {"name": name, "timezone": "America/Chicago", "sms_from": "+1 312 555 0100"}
    values.update(changes)
    return add_clinic(session, **values)


def test_a_clinic_is_stored_with_normalised_values(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        clinic = add_clinic(
            session,
            name="  Happy   Paws ",
            timezone="America/Chicago",
            sms_from="(312) 555-0100",
            alert_pace_seconds=6,
            two_way_texting=False,
            slack_team_id="T0ABC",
            slack_channel_id="C0XYZ",
            contact_phone="+44 20 7946 0000",
        )
    with sessions() as session:
        stored = find_clinic(session, "happy paws")
        assert (stored.id, stored.name, stored.sms_from, stored.alert_pace_seconds) == (
            clinic.id,
            "Happy Paws",
            "+13125550100",
            6.0,
        )
        assert not stored.two_way_texting
        assert (stored.slack_team_id, stored.slack_channel_id) == ("T0ABC", "C0XYZ")
        assert stored.contact_phone == "+442079460000"  # a landline is fine for calling the clinic
        assert find_clinic(session, str(clinic.id)).name == "Happy Paws"
        assert [c.name for c in list_clinics(session)] == ["Happy Paws"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"timezone": "Chicago"},
            "'Chicago' is not a time zone name; use an IANA name such as America/Chicago.",
        ),
        ({"timezone": ""}, "is not a time zone name"),
        (
            {"sms_from": "555-01"},
            "The sending number is unusable: '555-01' is not a valid phone number: too short.",
        ),
        ({"sms_from": None}, "The clinic needs a sending number (+E.164) or a Twilio Messaging Service SID"),
        (
            {"sms_from": None, "messaging_service_sid": "MG123"},
            "'MG123' is not a Twilio Messaging Service SID",
        ),
        ({"alert_pace_seconds": -1}, "The alert pace must be zero or more seconds between texts."),
        ({"name": "   "}, "The clinic name is missing."),
        ({"slack_channel_id": "general"}, "'general' is not a Slack channel id"),
    ],
)
def test_bad_clinic_values_are_refused(
    sessions: sessionmaker[Session], changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught, transaction(sessions) as session:
        _clinic(session, **changes)
    assert message in str(caught.value)
    with sessions() as session:
        assert list_clinics(session) == []


def test_a_messaging_service_alone_is_a_sender_and_names_are_unique(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        clinic = _clinic(session, sms_from=None, messaging_service_sid="MG" + "a1" * 16)
        assert clinic.sender_key == "ms:MG" + "a1" * 16
    with (
        pytest.raises(InvalidInput, match=r"A clinic named 'HAPPY PAWS' already exists\."),
        transaction(sessions) as session,
    ):
        _clinic(session, name="HAPPY PAWS")


def test_an_unknown_clinic_lists_the_known_ones(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(NotFound, match="no clinics have been added yet"):
        find_clinic(session, "Downtown")
    with transaction(sessions) as session:
        _clinic(session, "Happy Paws, Downtown")
        _clinic(session, "Happy Paws, Uptown")
    with sessions() as session:
        with pytest.raises(NotFound) as caught:
            find_clinic(session, "Midtown")
        assert str(caught.value) == (
            "There is no clinic 'Midtown'. Known clinics: 'Happy Paws, Downtown', 'Happy Paws, Uptown'."
        )
        with pytest.raises(NotFound):
            find_clinic(session, "999")


def test_update_clinic_checks_like_add(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        clinic = _clinic(session)
        _clinic(session, "Other")
    with transaction(sessions) as session:
        clinic = find_clinic(session, "Happy Paws")
        update_clinic(
            session, clinic, two_way_texting=False, alert_pace_seconds=None, timezone="America/Denver"
        )
    with sessions() as session:
        stored = find_clinic(session, "Happy Paws")
        assert (stored.two_way_texting, stored.alert_pace_seconds) == (False, None)
        assert stored.timezone == "America/Denver"
        with pytest.raises(InvalidInput, match="needs a sending number"):
            update_clinic(session, stored, sms_from=None)
        with pytest.raises(InvalidInput, match="already exists"):
            update_clinic(session, stored, name="other")


def test_users_are_checked_and_linked_to_slack(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        clinic = _clinic(session, slack_team_id="T0TEAM")
        admin = add_user(
            session,
            clinic=clinic,
            full_name="Dr. Ana Lee",
            email=" Ana.Lee@Example.ORG ",
            role="Admin",
            slack_user_id="U0ANA",
        )
        staff = add_user(session, clinic=clinic, full_name="Sam Ortiz", email="sam@example.org", role="staff")
    assert (admin.email, admin.role, admin.slack_team_id, admin.slack_user_id) == (
        "ana.lee@example.org",
        "admin",
        "T0TEAM",
        "U0ANA",
    )
    assert (staff.slack_team_id, staff.slack_user_id) == (None, None)

    cases = [
        ({"email": "not-an-email"}, "'not-an-email' is not an email address."),
        ({"role": "owner"}, "The role must be 'admin' or 'staff', not 'owner'."),
        ({"email": "ANA.LEE@example.org"}, "ana.lee@example.org is already a user of clinic 'Happy Paws'."),
        ({"slack_user_id": "U0ANA"}, "Slack user U0ANA is already linked to Dr. Ana Lee"),
        ({"slack_user_id": "alice"}, "'alice' is not a Slack user id"),
        ({"slack_team_id": "T0TEAM"}, "A Slack workspace was given without the Slack user id"),
    ]
    for changes, message in cases:
        values: dict[str, Any] = {"full_name": "Someone", "email": "someone@example.org", "role": "staff"}
        values.update(changes)
        with pytest.raises(InvalidInput) as caught, transaction(sessions) as session:
            add_user(session, clinic=find_clinic(session, "Happy Paws"), **values)
        assert message in str(caught.value)


def test_a_slack_link_needs_a_workspace(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        clinic = _clinic(session)
        with pytest.raises(InvalidInput, match="has no Slack workspace; give the user's Slack workspace id"):
            add_user(
                session,
                clinic=clinic,
                full_name="Ana",
                email="a@example.org",
                role="admin",
                slack_user_id="U0ANA",
            )
        user = add_user(
            session,
            clinic=clinic,
            full_name="Ana",
            email="a@example.org",
            role="admin",
            slack_user_id="U0ANA",
            slack_team_id="T0OTHER",
        )
        assert (user.slack_team_id, user.slack_user_id) == ("T0OTHER", "U0ANA")
