"""OAuth mode in the database: a token per workspace (Enterprise Grid org-wide installs included), workspace
isolation of every Slack identity check, and linking an unlinked clinic from App Home."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.oauth import WorkspaceNotInstalled, WorkspaceTokens
from services.authorization import NotAuthorized, authorize
from services.clinics import add_clinic, update_clinic
from services.conversations.staff import is_clinic_user
from services.errors import InvalidInput, NotFound
from services.installations import link_clinic, unlinked_clinics
from services.models import Clinic, ClinicUser, Conversation, Role
from tests.integration.recipient_builders import Builder

CLIENT_ID = "1111.2222"
ORG, ORG_TEAM, OTHER_ORG_TEAM, TEAM, NOT_INSTALLED = "E0GRID", "T0GRIDA", "T0GRIDB", "T0SOLO", "T0NONE"


def _install(store: SQLAlchemyInstallationStore, token: str, team: str | None, org: str | None) -> None:
    store.save(
        Installation(
            app_id="A0MASSALERT",
            enterprise_id=org,
            team_id=team,
            bot_token=token,
            bot_id="B0BOT",
            bot_user_id="U0BOT",
            bot_scopes="chat:write,commands",
            user_id="U0INSTALLER",
            is_enterprise_install=team is None,
        )
    )


@pytest.fixture
def store(engine: Engine) -> SQLAlchemyInstallationStore:
    store = SQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine)
    _install(store, "xoxb-org", None, ORG)  # org-wide install: no team id (is_enterprise_install)
    _install(store, "xoxb-solo", TEAM, None)
    return store


def _clinic(
    sessions: sessionmaker[Session], name: str, team: str | None, org: str | None, channel: str
) -> int:
    with sessions() as session, session.begin():
        clinic = Builder(session).clinic(
            name, slack_team_id=team, slack_enterprise_id=org, slack_channel_id=channel
        )
        return clinic.id


def test_each_clinic_gets_its_own_workspaces_token(
    sessions: sessionmaker[Session], store: SQLAlchemyInstallationStore
) -> None:
    grid = _clinic(sessions, "Grid", ORG_TEAM, ORG, "C0GRID")
    solo = _clinic(sessions, "Solo", TEAM, None, "C0SOLO")
    missing = _clinic(sessions, "Missing", NOT_INSTALLED, None, "C0NONE")
    unlinked = _clinic(sessions, "Unlinked", None, None, "C0UNLINKED")
    tokens = WorkspaceTokens(sessions, WebClient(base_url="http://127.0.0.1:9/api/"), store)
    assert tokens.for_clinic(grid).token == "xoxb-org"
    assert tokens.for_clinic(solo).token == "xoxb-solo"
    assert tokens.for_channel("C0SOLO").token == "xoxb-solo"
    assert tokens.for_clinic(solo) is tokens.for_clinic(solo)  # one client per token
    assert tokens.for_clinic(solo).base_url == "http://127.0.0.1:9/api/"
    for clinic in (missing, unlinked):
        with pytest.raises(WorkspaceNotInstalled):
            tokens.for_clinic(clinic)
    with pytest.raises(WorkspaceNotInstalled):
        tokens.for_channel("C0ELSEWHERE")
    store.delete_bot(enterprise_id=None, team_id=TEAM)  # app_uninstalled / tokens_revoked
    with pytest.raises(WorkspaceNotInstalled):
        tokens.for_clinic(solo)


def test_single_token_mode_always_uses_the_one_client(sessions: sessionmaker[Session]) -> None:
    clinic = _clinic(sessions, "Anywhere", None, None, "C0ANY")
    default = WebClient(token="xoxb-single")
    tokens = WorkspaceTokens(sessions, default)
    assert tokens.for_clinic(clinic) is default and tokens.for_channel("C0UNKNOWN") is default


def test_no_request_from_another_workspace_reaches_a_clinic(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        b = Builder(session)
        grid = b.clinic("Grid", slack_team_id=ORG_TEAM, slack_enterprise_id=ORG)
        # A clinic user row linked (wrongly, or by an old install) to a Slack account of another workspace.
        b.user(grid, "ana@grid.test", Role.ADMIN, slack_team_id=OTHER_ORG_TEAM, slack_user_id="U0ANA")
        b.user(grid, "sam@grid.test", Role.STAFF)
        session.add(Conversation(clinic_id=grid.id, phone_e164="+13125550101", slack_channel_id="C0GRID"))
    with sessions() as session:
        # Same Enterprise Grid org, another workspace: refused, by explicit link and by email alike.
        for user, email in (("U0ANA", None), ("U0ANA", "ana@grid.test"), ("U0SAM", "sam@grid.test")):
            with pytest.raises(NotAuthorized):
                authorize(session, team_id=OTHER_ORG_TEAM, user_id=user, email=email)
        assert authorize(session, team_id=ORG_TEAM, user_id="U0X", email="ana@grid.test").single is not None
        conversation = session.scalars(select(Conversation.id)).one()
    assert not is_clinic_user(
        sessions, conversation, team_id=OTHER_ORG_TEAM, user_id="U0SAM", email="sam@grid.test"
    )
    assert is_clinic_user(sessions, conversation, team_id=ORG_TEAM, user_id="U0SAM", email="sam@grid.test")


def test_an_admin_links_an_unlinked_clinic_to_their_workspace_once(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        b = Builder(session)
        clinic = b.clinic("Riverside")
        b.user(clinic, "Rita@Riverside.test", Role.ADMIN, name="Rita")
        b.user(clinic, "stan@riverside.test", Role.STAFF, name="Stan")
        linked = b.clinic("Linked", slack_team_id=TEAM)
        b.user(linked, "rita@riverside.test", Role.ADMIN)
        clinic_id = clinic.id
    assert [c.name for c in unlinked_clinics(sessions, "rita@riverside.test")] == ["Riverside"]
    assert unlinked_clinics(sessions, "stan@riverside.test") == []
    assert unlinked_clinics(sessions, None) == []
    with pytest.raises(NotFound):
        link_clinic(
            sessions,
            clinic_id,
            email="stan@riverside.test",
            team_id="T0RIVER",
            enterprise_id=None,
            user_id="U0S",
        )
    name = link_clinic(
        sessions,
        clinic_id,
        email="rita@riverside.test",
        team_id="T0RIVER",
        enterprise_id=ORG,
        user_id="U0RITA",
    )
    assert name == "Riverside"
    with sessions() as session:
        clinic_row = session.get(Clinic, clinic_id)
        assert clinic_row is not None
        assert (clinic_row.slack_team_id, clinic_row.slack_enterprise_id) == ("T0RIVER", ORG)
        rita = session.scalars(
            select(ClinicUser).where(ClinicUser.clinic_id == clinic_id, ClinicUser.full_name == "Rita")
        ).one()
        assert (rita.slack_team_id, rita.slack_user_id) == ("T0RIVER", "U0RITA")
    # Linked now: nobody (from any workspace) can take it over.
    with pytest.raises(NotFound):
        link_clinic(
            sessions,
            clinic_id,
            email="rita@riverside.test",
            team_id="T0OTHER",
            enterprise_id=None,
            user_id="U0R",
        )


def test_a_clinic_names_its_enterprise_grid_org_for_org_wide_installs(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        clinic = add_clinic(
            session,
            name="Grid",
            timezone="America/Chicago",
            sms_from="+13125550100",
            slack_team_id=ORG_TEAM,
            slack_enterprise_id=ORG,
        )
        assert clinic.slack_enterprise_id == ORG
        with pytest.raises(InvalidInput, match="not a Slack Enterprise Grid organization id"):
            update_clinic(session, clinic, slack_enterprise_id="T0NOTANORG")
        update_clinic(session, clinic, slack_enterprise_id=None)
        assert clinic.slack_enterprise_id is None
