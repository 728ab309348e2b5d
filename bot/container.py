"""What every entry point and listener shares: built once by `bot.main.build`, passed in, never changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.clock import Clock
from services.notify import Notifier
from services.settings import Settings

if TYPE_CHECKING:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

    from bot.conversation_relay import ConversationRelay
    from bot.oauth import WorkspaceTokens
    from services.delivery import Dispatcher


@dataclass(frozen=True)
class AppContext:
    """Settings, the database, the clock and the parts built from them for this process.

    `client` (the Slack Web API) and `relay` exist when a Slack bot token is configured (in OAuth mode
    `client` carries no token and `installations`/`tokens` are set); `dispatcher` when
    an SMS gateway is (Twilio credentials or an override); `engine` when this context owns the database
    connection pool (`close` disposes it).
    """

    settings: Settings
    sessions: sessionmaker[Session]
    clock: Clock
    client: WebClient | None = None
    engine: Engine | None = None
    notifier: Notifier | None = None
    relay: ConversationRelay | None = None
    dispatcher: Dispatcher | None = None
    #: OAuth mode only: the installations (slack_sdk's SQLAlchemy store) and each workspace's client.
    installations: SQLAlchemyInstallationStore | None = None
    tokens: WorkspaceTokens | None = None

    @property
    def slack(self) -> WebClient:
        """The Slack Web API client; RuntimeError when this process has no Slack bot token."""
        if self.client is None:
            raise RuntimeError("no Slack client: SLACK_BOT_TOKEN is not configured for this process")
        return self.client

    def close(self) -> None:
        """Finish the relay's background posts, then close the database pool."""
        if self.relay is not None:
            self.relay.close()
        if self.engine is not None:
            self.engine.dispose()
