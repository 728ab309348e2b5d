"""OAuth mode end to end: two workspaces install through Slack's OAuth flow, alerts run from one deployment.

The served app over HTTP, the sandbox Slack's oauth.v2.access, signed requests from each workspace.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import serve
from bot.ids import ActionId, BlockId
from sandbox import polling
from sandbox.slack import SandboxSlack
from sandbox.slack_events import EventSender, app_uninstalled_event, tokens_revoked_event
from sandbox.slack_requests import action, block_actions_payload, event_body
from sandbox.slack_user import Answer, SlackUser
from sandbox.twilio import SandboxTwilio
from services import alerts, db
from services.models import Clinic, MassAlert, Role, slack_bots, slack_installations
from services.notify import AlertSnapshot
from services.settings import Settings
from tests.blockkit import all_text
from tests.e2e.slack_world import SECRET, TWILIO_SID, TWILIO_TOKEN, TZ, tomorrow_at
from tests.integration.recipient_builders import Builder

SOUTH, NORTH = "T0SANDBOX", "T0NORTH"
SOUTH_CHANNEL, NORTH_CHANNEL = "C0SOUTHDESK", "C0NORTHDESK"
SOUTH_ADMIN, NORTH_ADMIN = "U0SOUTHADMIN", "U0NORTHADMIN"
STATE_SECRET = "e2e-state-secret"
NORTH_SENDER = "+13125559999"
MESSAGE = "The clinic closes at 3 PM today because of the storm. Please call to reschedule."


class TeamUser(SlackUser):
    """A member of workspace `team_id` (SlackUser speaks for the sandbox's default workspace)."""

    def __init__(self, *args: Any, team_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team_id = team_id
        self._who["team_id"] = team_id

    def apply(self, view_id: str, status: int, reply: str) -> Answer:
        """As Slack does, a pushed or updated view keeps the workspace of the view it replaces (the sandbox
        stamps its default workspace on views made from a view_submission's answer)."""
        answer = super().apply(view_id, status, reply)
        if answer.shown is not None:
            with self.sandbox._lock:
                self.sandbox.views[answer.shown["id"]].update(
                    team_id=self.team_id, app_installed_team_id=self.team_id
                )
        return answer


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value for name, value in attrs if tag == "a" and name == "href" and value]


@dataclass
class Clinics:
    """Two clinics, one per workspace, on one served app in OAuth mode."""

    slack: SandboxSlack
    twilio: SandboxTwilio
    served: serve.Served
    south_id: int
    north_id: int

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.served.context.sessions

    def user(self, team_id: str, user_id: str, channel_id: str) -> TeamUser:
        return TeamUser(
            self.slack,
            self.served.events_url,
            SECRET,
            team_id=team_id,
            user_id=user_id,
            channel_id=channel_id,
            timeout=10.0,
        )

    def install(self, team_id: str, user_id: str) -> str:
        """Add to Slack as a person does: /slack/install, Slack's approval, the redirect back; its page."""
        with urllib.request.urlopen(f"{self.served.base_url}/slack/install", timeout=10) as page:
            links = _Links()
            links.feed(page.read().decode("utf-8"))
            # Bolt's state cookie is Secure; a browser sends it back over HTTPS, this test does by hand.
            cookie = page.headers["Set-Cookie"].split(";")[0]
        authorize = next(href for href in links.hrefs if "oauth/v2/authorize" in href)
        asked = parse_qs(urlparse(authorize.replace("&amp;", "&")).query)
        assert asked["client_id"] == [self.slack.client_id]
        assert set(asked["scope"][0].split(",")) >= {"commands", "chat:write", "files:write"}
        code = self.slack.issue_oauth_code(team_id, user_id=user_id, scopes=asked["scope"][0])
        query = urlencode({"code": code, "state": asked["state"][0]})
        back = urllib.request.Request(
            f"{self.served.base_url}/slack/oauth_redirect?{query}", headers={"Cookie": cookie}
        )
        with urllib.request.urlopen(back, timeout=10) as done:
            assert done.status == 200
            return str(done.read().decode("utf-8"))

    def event(self, team_id: str, event: dict[str, Any]) -> None:
        body = event_body(event, team_id=team_id, api_app_id=self.slack.app_id)
        answer = EventSender(self.served.events_url, SECRET, timeout=10.0).send(body)
        assert answer.status == 200, answer

    def wait_forgotten(self, team_id: str) -> None:
        """Until the workspace's bot token is gone from the installation store (events run after the ack)."""

        def gone() -> bool:
            with self.sessions() as session:
                return not session.execute(select(slack_bots).where(slack_bots.c.team_id == team_id)).all()

        polling.wait_for(gone, f"the installation of {team_id} to be forgotten", 15.0, interval=0.02)

    def snapshot(self, alert_id: int) -> AlertSnapshot:
        return alerts.snapshot(self.sessions, alert_id, self.served.context.clock.now())

    def alert_of(self, clinic_id: int) -> int:
        def found() -> int | None:
            with self.sessions() as session:
                return session.scalar(select(MassAlert.id).where(MassAlert.clinic_id == clinic_id))

        return polling.wait_for(found, f"the alert of clinic {clinic_id}", 15.0, interval=0.02)

    def wait_finished(self, alert_id: int, timeout: float = 30.0) -> AlertSnapshot:
        def finished() -> AlertSnapshot | None:
            snap = self.snapshot(alert_id)
            return snap if snap.finished and snap.report_permalink else None

        return polling.wait_for(
            finished,
            f"alert {alert_id} to finish with its report shared",
            timeout,
            interval=0.02,
        )


def _seed(url: str) -> tuple[int, int]:
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as session, session.begin():
            b = Builder(session)
            ids = []
            for number, (name, team, channel, email, sender) in enumerate(
                (
                    ("Happy Paws, South", SOUTH, SOUTH_CHANNEL, "ana@south.test", "+15005550006"),
                    ("Happy Paws, North", NORTH, NORTH_CHANNEL, "nick@north.test", NORTH_SENDER),
                )
            ):
                clinic = b.clinic(
                    name=name, tz=TZ, sms_from=sender, slack_team_id=team, slack_channel_id=channel
                )
                b.user(clinic, email, Role.ADMIN, name=f"Admin of {name}")
                for index in range(3):
                    phone = f"+1312555{number}1{index:02d}"
                    b.visit(
                        b.pet(b.client(clinic, f"Client {number}-{index}", phone)), tomorrow_at(9 + index)
                    )
                ids.append(clinic.id)
            return ids[0], ids[1]
    finally:
        engine.dispose()


@contextmanager
def oauth_world(url: str, reports: Path) -> Iterator[Clinics]:
    """Migrate and seed `url`, start both sandboxes (North not installed yet) and serve in OAuth mode."""
    db.upgrade(url)
    slack = SandboxSlack(team_id=SOUTH).start()
    twilio = SandboxTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN, callback_delay=0.02).start()
    served = None
    try:
        slack.add_workspace(NORTH, "North Clinic", installed=False)
        slack.add_channel(SOUTH_CHANNEL, "southdesk", team_id=SOUTH)
        slack.add_channel(NORTH_CHANNEL, "northdesk", team_id=NORTH)
        slack.add_user(SOUTH_ADMIN, team_id=SOUTH, email="ana@south.test", real_name="Ana South")
        slack.add_user(NORTH_ADMIN, team_id=NORTH, email="nick@north.test", real_name="Nick North")
        south_id, north_id = _seed(url)
        settings = Settings(
            database_url=url,
            alert_pace_seconds=0.2,
            sender_max_per_second=50.0,
            completion_grace_seconds=5.0,
            dispatch_interval_seconds=0.02,
            reports_dir=reports,
            slack_signing_secret=SECRET,
            slack_api_url=slack.url,
            slack_client_id=slack.client_id,
            slack_client_secret=slack.client_secret,
            slack_state_secret=STATE_SECRET,
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_api_url=twilio.url,
        )
        served = serve.start(settings, host="127.0.0.1", port=0, callbacks_to_self=True, finalize_every=0.25)
        yield Clinics(slack, twilio, served, south_id, north_id)
    finally:
        if served is not None:
            served.close()
        twilio.stop()
        slack.stop()


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[Clinics]:
    """On SQLite and PostgreSQL."""
    with oauth_world(db_url, tmp_path / "reports") as running:
        yield running


def send(user: SlackUser) -> None:
    """/mass-alert, tomorrow's range, the message, Review, Send."""
    view = user.slash_command()
    user.choose_range(view["id"], "today+1")
    user.type_message(view["id"], MESSAGE)
    reviewed = user.submit(view["id"])
    assert reviewed.body["response_action"] == "push", reviewed.body
    assert reviewed.shown is not None
    assert user.submit(reviewed.shown["id"]).body == {"response_action": "clear"}


def test_add_to_slack_stores_the_installation(world: Clinics) -> None:
    page = world.install(NORTH, NORTH_ADMIN)
    assert "Thank you" in page or "success" in page.lower()
    token = world.slack.workspace(NORTH).bot_token
    with world.sessions() as session:
        bot = session.execute(select(slack_bots).where(slack_bots.c.team_id == NORTH)).one()
        installed = session.execute(
            select(slack_installations).where(slack_installations.c.team_id == NORTH)
        ).one()
    assert bot.bot_token == token and bot.bot_user_id == world.slack.workspace(NORTH).bot_user_id
    assert bot.team_name == "North Clinic" and not bot.is_enterprise_install
    assert "chat:write" in bot.bot_scopes.split(",")
    assert installed.user_id == NORTH_ADMIN
    access = world.slack.calls_to("oauth.v2.access")
    assert len(access) == 1 and access[0].response["ok"]


def test_a_forged_or_replayed_state_installs_nothing(world: Clinics) -> None:
    code = world.slack.issue_oauth_code(NORTH, user_id=NORTH_ADMIN)
    query = urlencode({"code": code, "state": "made-up.0123"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{world.served.base_url}/slack/oauth_redirect?{query}", timeout=10)
    assert refused.value.code in (400, 401, 403)
    assert world.slack.calls_to("oauth.v2.access") == []
    with world.sessions() as session:
        assert session.execute(select(slack_bots)).all() == []


def test_two_workspaces_send_at_once_each_with_its_own_token(world: Clinics) -> None:
    world.install(SOUTH, SOUTH_ADMIN)
    world.install(NORTH, NORTH_ADMIN)
    tokens = {team: world.slack.workspace(team).bot_token for team in (SOUTH, NORTH)}
    south = world.user(SOUTH, SOUTH_ADMIN, SOUTH_CHANNEL)
    north = world.user(NORTH, NORTH_ADMIN, NORTH_CHANNEL)
    senders = [threading.Thread(target=send, args=(person,)) for person in (south, north)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=30)
    done = {
        clinic: world.wait_finished(world.alert_of(clinic)) for clinic in (world.south_id, world.north_id)
    }
    assert all(snap.succeeded and snap.sent == 3 for snap in done.values()), done
    assert {(m.from_, m.to[:9]) for m in world.twilio.messages} == {
        ("+15005550006", "+13125550"),
        (NORTH_SENDER, "+13125551"),
    }
    channels = {world.south_id: SOUTH_CHANNEL, world.north_id: NORTH_CHANNEL}
    for clinic, snap in done.items():
        assert snap.slack_channel_id == channels[clinic]
    # Every Slack call the app made carried the token of the workspace it was about.
    calls = [c for c in world.slack.calls if c.method not in ("oauth.v2.access",)]
    assert calls and all(c.response.get("ok") for c in calls), [
        (c.method, c.response) for c in calls if not c.response.get("ok")
    ]
    for call in calls:
        assert call.token == tokens[call.team_id or ""], (call.method, call.team_id)
        channel = call.params.get("channel") or call.params.get("channel_id")
        if channel in (SOUTH_CHANNEL, NORTH_CHANNEL):
            assert call.team_id == (SOUTH if channel == SOUTH_CHANNEL else NORTH), call.method
    for team in (SOUTH, NORTH):
        assert world.slack.call_times("files.completeUploadExternal", team, answered_ok=True)
    # A client's reply opens a thread in their own clinic's channel, posted with that workspace's token.
    inbound = f"{world.served.base_url}/twilio/inbound"
    assert (
        world.twilio.simulate_inbound(inbound, from_="+13125551100", to=NORTH_SENDER, body="Thanks!") == 200
    )
    thread = polling.wait_for(
        lambda: [
            c
            for c in world.slack.calls
            if c.method == "chat.postMessage"
            and c.params.get("channel") == NORTH_CHANNEL
            and "Thanks!" in str(c.params)
        ],
        "the reply in North's channel",
        15.0,
    )
    assert thread[0].response["ok"] and thread[0].token == tokens[NORTH], thread[0].response


def test_uninstall_mid_alert_holds_the_notices_and_a_reinstall_delivers_them(
    world: Clinics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    world.install(NORTH, NORTH_ADMIN)
    with world.sessions() as session, session.begin():
        session.execute(update(Clinic).where(Clinic.id == world.north_id).values(alert_pace_seconds=0.5))
    send(world.user(NORTH, NORTH_ADMIN, NORTH_CHANNEL))
    alert_id = world.alert_of(world.north_id)
    polling.wait_for(lambda: world.snapshot(alert_id).slack_message_ts, "the activity entry", 15.0)
    world.slack.uninstall(NORTH)
    world.event(NORTH, app_uninstalled_event())
    world.wait_forgotten(NORTH)
    # The texts keep going out; the outcome waits for the workspace.
    polling.wait_for(
        lambda: (s := world.snapshot(alert_id)).pending == 0 and s.state == "completed", "all texts", 30.0
    )
    polling.wait_for(lambda: "held" in caplog.text, "the held notice in the log", 15.0)
    assert len(world.twilio.messages) == 3
    with world.sessions() as session:
        held = session.get(MassAlert, alert_id)
        assert held is not None and held.completion_notified_at is None
    assert "uninstalled from Slack workspace T0NORTH" in caplog.text
    world.install(NORTH, NORTH_ADMIN)
    done = world.wait_finished(alert_id)
    assert done.succeeded
    entry = world.slack.message(NORTH_CHANNEL, done.slack_message_ts or "")
    assert entry is not None and "3" in entry["text"]
    new_token = world.slack.workspace(NORTH).bot_token
    assert world.slack.call_times("files.completeUploadExternal", NORTH, answered_ok=True)
    uploads = [c for c in world.slack.calls if c.method == "files.completeUploadExternal"]
    assert uploads and all(c.token == new_token for c in uploads)


def test_a_revoked_bot_token_forgets_the_installation(world: Clinics) -> None:
    world.install(NORTH, NORTH_ADMIN)
    world.slack.revoke_token(world.slack.workspace(NORTH).bot_token)
    world.event(NORTH, tokens_revoked_event(bot=["U0BOTNORTH"]))
    world.wait_forgotten(NORTH)


def test_a_request_from_one_workspace_cannot_act_on_anothers_clinic(world: Clinics) -> None:
    world.install(SOUTH, SOUTH_ADMIN)
    world.install(NORTH, NORTH_ADMIN)
    with world.sessions() as session, session.begin():
        session.execute(update(Clinic).where(Clinic.id == world.south_id).values(alert_pace_seconds=0.6))
    send(world.user(SOUTH, SOUTH_ADMIN, SOUTH_CHANNEL))
    alert_id = world.alert_of(world.south_id)
    entry_ts = polling.wait_for(lambda: world.snapshot(alert_id).slack_message_ts, "the entry", 15.0)
    # North's admin is also on South's clinic list (same email), but asks from North's workspace.
    with world.sessions() as session, session.begin():
        south = session.get(Clinic, world.south_id)
        assert south is not None
        Builder(session).user(south, "nick@north.test", Role.ADMIN, name="Nick")
    nick = world.user(NORTH, NORTH_ADMIN, SOUTH_CHANNEL)  # as if the channel were shared with North
    before = len(world.slack.calls)
    nick.click_message_button(
        SOUTH_CHANNEL, entry_ts, BlockId.ACTIVITY_STATUS, ActionId.CANCEL_ALERT, str(alert_id)
    )
    told = polling.wait_for(
        lambda: [
            c
            for c in world.slack.calls[before:]
            if c.method in ("chat.postEphemeral", "chat.postMessage") and c.response.get("ok")
        ],
        "the refusal told to Nick",
        15.0,
    )
    assert "not a clinic user of that clinic" in told[0].params["text"]
    assert world.snapshot(alert_id).state in ("sending", "completed")
    assert world.snapshot(alert_id).cancelled_by is None
    # The refusal went out with North's token, never South's.
    south_token = world.slack.workspace(SOUTH).bot_token
    assert all(c.token != south_token for c in world.slack.calls if c.team_id == NORTH)


def test_an_admin_links_the_clinic_the_operator_created_unlinked_from_app_home(world: Clinics) -> None:
    with world.sessions() as session, session.begin():
        session.execute(update(Clinic).where(Clinic.id == world.south_id).values(slack_team_id=None))
    world.install(SOUTH, SOUTH_ADMIN)
    ana = world.user(SOUTH, SOUTH_ADMIN, SOUTH_CHANNEL)
    home = ana.open_home()
    assert "not linked to a clinic yet" in all_text(home)
    link = next(b for b in home["blocks"] if b.get("block_id") == BlockId.HOME_LINK)
    assert [e["text"]["text"] for e in link["elements"]] == ["Link Happy Paws, South to this workspace"]
    before = len(world.slack.calls_to("views.publish"))
    click = action("button", link["elements"][0]["action_id"], BlockId.HOME_LINK, str(world.south_id))
    body = block_actions_payload(
        user_id=SOUTH_ADMIN,
        trigger_id=world.slack.new_trigger_id(),
        actions=[click],
        view=home,
        team_id=SOUTH,
    )
    assert ana.send(body)[0] == 200
    polling.wait_for(
        lambda: len(world.slack.calls_to("views.publish")) > before, "Home published again", 15.0
    )
    assert "Recent mass text alerts: Happy Paws, South" in all_text(world.slack.home_views[SOUTH_ADMIN])
    with world.sessions() as session:
        linked = session.get(Clinic, world.south_id)
        assert linked is not None and linked.slack_team_id == SOUTH
    send(ana)  # and the clinic's admin can now send from the workspace
    assert world.wait_finished(world.alert_of(world.south_id)).succeeded
