"""App Home as managers use it: the last 90 days of their clinics' alerts, Staff read-only, a clinic
filter for people in several clinics, Next / Previous pages, each alert in its own clinic's zone.
Built through the real listener code path (`commands.home.home_for`) with the Slack SDK talking to
the sandbox, on SQLite and PostgreSQL; every view is checked against Slack's Block Kit limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.container import AppContext
from bot.ids import ActionId, BlockId, keyed
from bot.views.home import PAGE_SIZE, READ_ONLY, HomeQuery
from commands.gate import SlackIdentity
from commands.home import home_for
from sandbox.slack import SandboxSlack
from services.clock import ManualClock
from services.models import AlertState, Clinic, MassAlert, Role
from services.settings import Settings
from tests.blockkit import all_text, assert_valid_view
from tests.integration.recipient_builders import Builder

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
ANA, SAM, VAL = "U0ANA", "U0SAM", "U0VAL"


@dataclass(frozen=True)
class Seeded:
    """Clinic ids, and alert ids: Downtown's newest first, Seaside's one, a too-old and a stranger's."""

    downtown: int
    seaside: int
    newest_downtown: list[int]
    other: int
    old: int
    elsewhere: int


@pytest.fixture
def slack() -> Iterator[SandboxSlack]:
    sandbox = SandboxSlack().start()
    sandbox.add_user(ANA, email="ana@happypaws.test", real_name="Dr. Ana Lee")
    sandbox.add_user(SAM, email="sam@happypaws.test", real_name="Sam Ortiz")
    sandbox.add_user(VAL, email="val@example.org", real_name="Val Visitor")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _alert(session: Session, clinic: Clinic, created_at: datetime, by: str, **changes: Any) -> int:
    fields: dict[str, Any] = dict(
        clinic_id=clinic.id,
        created_by_name=by,
        sender_key="+13125550000",
        pace_seconds=12,
        range_start=created_at,
        range_end=created_at + timedelta(days=1),
        message=f"Closing early on the {created_at.day}th.",
        state=AlertState.COMPLETED,
        total_clients=3,
        to_send=3,
        skipped_count=0,
        created_at=created_at,
        report_permalink=f"https://sandbox.slack.com/files/{clinic.id}/{created_at.timestamp():.0f}.csv",
    )
    alert = MassAlert(**(fields | changes))
    session.add(alert)
    session.flush()
    return alert.id


@pytest.fixture
def seeded(sessions: sessionmaker[Session], slack: SandboxSlack) -> Seeded:
    with sessions() as session, session.begin():
        b = Builder(session)
        downtown = b.clinic("Happy Paws, Downtown", "America/Chicago", slack_team_id=slack.team_id)
        seaside = b.clinic("Happy Paws, Seaside", "America/Los_Angeles", slack_team_id=slack.team_id)
        other = b.clinic("Other Clinic", "America/New_York", slack_team_id=slack.team_id)
        b.user(downtown, "ana@happypaws.test", Role.ADMIN, name="Dr. Ana Lee")
        b.user(seaside, "ana@happypaws.test", Role.STAFF, name="Dr. Ana Lee")
        b.user(downtown, "sam@happypaws.test", Role.STAFF, name="Sam Ortiz")
        b.user(other, "olga@other.test", Role.ADMIN, name="Olga")
        # 25 Downtown alerts, one every three days back from an hour ago; one Seaside alert 2 days ago.
        newest = [
            _alert(session, downtown, NOW - timedelta(hours=1, days=3 * n), "Dr. Ana Lee") for n in range(25)
        ]
        seaside_id = _alert(session, seaside, NOW - timedelta(days=2), "Kai Moana", message="Seaside flood")
        old = _alert(session, downtown, NOW - timedelta(days=91), "Dr. Ana Lee", message="Ancient history")
        elsewhere = _alert(session, other, NOW - timedelta(minutes=5), "Olga", message="Not yours")
        return Seeded(downtown.id, seaside.id, newest, seaside_id, old, elsewhere)


def _home(
    sessions: sessionmaker[Session], slack: SandboxSlack, user: str, query: HomeQuery | None = None
) -> Any:
    ctx = AppContext(Settings(), sessions, ManualClock(NOW))
    client = WebClient(base_url=slack.url, token=slack.bot_token, timeout=5)
    view = home_for(ctx, client, SlackIdentity(slack.team_id, user), query)
    assert_valid_view(view)
    assert len(view["blocks"]) <= 100
    return view


def _alert_ids(view: dict[str, Any]) -> list[int]:
    prefix = f"{BlockId.HOME_ALERT}:"
    return [
        int(b["block_id"][len(prefix) :]) for b in view["blocks"] if b.get("block_id", "").startswith(prefix)
    ]


def _block(view: dict[str, Any], block_id: str) -> dict[str, Any] | None:
    return next((b for b in view["blocks"] if b.get("block_id") == block_id), None)


def test_an_admin_in_two_clinics_sees_both_newest_first_a_page_at_a_time(
    sessions: sessionmaker[Session], slack: SandboxSlack, seeded: Seeded
) -> None:
    first = _home(sessions, slack, ANA)
    ids = _alert_ids(first)
    # Newest first across both clinics: Downtown an hour ago, then Seaside two days ago, then Downtown.
    assert ids == [seeded.newest_downtown[0], seeded.other, *seeded.newest_downtown[1 : PAGE_SIZE - 1]]
    text = all_text(first)
    assert "Recent mass text alerts: Happy Paws, Downtown · Happy Paws, Seaside" in text
    assert "Not yours" not in text and "Ancient history" not in text
    # Each alert's times in its own clinic's zone.
    seaside = all_text([_block(first, keyed(BlockId.HOME_ALERT, seeded.other))])
    assert f"*#{seeded.other} · Happy Paws, Seaside*  Sun 29 Nov 10:00 AM PST  by Kai Moana" in seaside
    assert (
        ">Seaside flood" in seaside
        and "Appointments Sun 29 Nov 10:00 AM – Mon 30 Nov 10:00 AM PST" in seaside
    )
    assert "✅ 0 texted · 0 failed · 0 not texted" in seaside
    downtown = all_text([_block(first, keyed(BlockId.HOME_ALERT, ids[0]))])
    assert "Tue 1 Dec 11:00 AM CST  by Dr. Ana Lee" in downtown
    assert _block(first, keyed(BlockId.HOME_ALERT, ids[0]))["accessory"]["text"]["text"] == "Report"
    # Admin of Downtown: may send. In two clinics: the filter. More than a page: Next only.
    assert _block(first, BlockId.HOME_ACTIONS) is not None
    options = _block(first, BlockId.HOME_FILTER)["elements"][0]["options"]
    assert [o["text"]["text"] for o in options] == [
        "All my clinics",
        "Happy Paws, Downtown",
        "Happy Paws, Seaside",
    ]
    pages = _block(first, BlockId.HOME_PAGES)["elements"]
    assert [(p["action_id"], p["value"]) for p in pages] == [(ActionId.HOME_NEXT, "all:1")]

    second = _home(sessions, slack, ANA, HomeQuery.parse(pages[0]["value"]))
    rest = _alert_ids(second)
    assert rest == seeded.newest_downtown[PAGE_SIZE - 1 :]
    assert seeded.old not in rest  # 91 days old: outside the history
    assert "Alerts 21–26 of the last 90 days" in all_text(second)
    back = _block(second, BlockId.HOME_PAGES)["elements"]
    assert [(p["action_id"], p["value"]) for p in back] == [(ActionId.HOME_PREVIOUS, "all:0")]


def test_the_clinic_filter_shows_one_clinic_and_never_another_ones(
    sessions: sessionmaker[Session], slack: SandboxSlack, seeded: Seeded
) -> None:
    seaside = _home(sessions, slack, ANA, HomeQuery(seeded.seaside))
    assert _alert_ids(seaside) == [seeded.other]
    assert "Recent mass text alerts: Happy Paws, Seaside" in all_text(seaside)
    chosen = _block(seaside, BlockId.HOME_FILTER)["elements"][0]["initial_option"]
    assert chosen["text"]["text"] == "Happy Paws, Seaside"
    assert _block(seaside, BlockId.HOME_PAGES) is None
    # A forged filter naming a clinic Ana is not in shows her own clinics, never that one's alerts.
    forged = _home(sessions, slack, ANA, HomeQuery(seeded.elsewhere))
    assert seeded.elsewhere not in _alert_ids(forged) and "Not yours" not in all_text(forged)
    assert len(_alert_ids(forged)) == PAGE_SIZE


def test_staff_follow_the_history_read_only(
    sessions: sessionmaker[Session], slack: SandboxSlack, seeded: Seeded
) -> None:
    view = _home(sessions, slack, SAM)
    assert len(_alert_ids(view)) == PAGE_SIZE
    assert seeded.other not in _alert_ids(view)  # Sam is in Downtown only
    assert _block(view, BlockId.HOME_ACTIONS) is None  # no New alert button
    assert _block(view, BlockId.HOME_FILTER) is None  # one clinic: no filter
    assert READ_ONLY in all_text(view)
    buttons = [
        element
        for b in view["blocks"]
        for element in ([b["accessory"]] if "accessory" in b else b.get("elements", []))
        if element.get("type") == "button"
    ]
    assert {str(b["action_id"]).split(":")[0] for b in buttons} <= {ActionId.OPEN_REPORT, ActionId.HOME_NEXT}
    assert all("url" in b for b in buttons if b["action_id"] != ActionId.HOME_NEXT)


def test_someone_in_no_clinic_is_told_why(
    sessions: sessionmaker[Session], slack: SandboxSlack, seeded: Seeded
) -> None:
    view = _home(sessions, slack, VAL)
    assert "not linked to a clinic user yet" in all_text(view)
    assert _alert_ids(view) == []


def test_a_clinic_without_alerts_says_so(sessions: sessionmaker[Session], slack: SandboxSlack) -> None:
    with sessions() as session, session.begin():
        b = Builder(session)
        quiet = b.clinic("Quiet Paws", "America/Chicago", slack_team_id=slack.team_id)
        b.user(quiet, "sam@happypaws.test", Role.STAFF, name="Sam Ortiz")
    view = _home(sessions, slack, SAM)
    assert "No mass text alerts in the last 90 days." in all_text(view)
    assert "/mass-alert" not in all_text(view)  # Staff cannot send one
