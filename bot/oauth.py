"""OAuth mode: one deployment, many Slack workspaces, each call made with its own workspace's bot token.

When SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET are set, Bolt runs Slack's OAuth v2 flow
(`/slack/install`, `/slack/oauth_redirect`; https://docs.slack.dev/authentication/installing-with-oauth)
and keeps installations with slack_sdk's SQLAlchemy stores in the app's own database (tables from
migration 0017). `WorkspaceTokens` finds the bot token of the workspace a clinic or channel belongs to,
for the jobs that run outside a Slack request (the dispatcher's notices, the reply relay). In single-token
mode it hands back the one SLACK_BOT_TOKEN client, so nothing changes there.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from pathlib import Path
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.oauth.oauth_flow import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.notifier import SlackNotifier, build_client
from services.clock import Clock
from services.models import Clinic, Conversation
from services.notify import AlertSnapshot, PostedMessage
from services.settings import Settings, SettingsError

log = logging.getLogger(__name__)

#: The bot scopes of the app manifest (app.yaml, oauth_config.scopes.bot), asked for by Add to Slack and
#: checked by `mass-alert check`; tests/unit/test_manifest.py keeps the two equal. A constant, not a read
#: of app.yaml, because an installed app (the image) does not ship the manifest.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "files:write",
    "users:read",
    "users:read.email",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "im:write",
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
#: Seconds an install's `state` stays valid (Bolt's default is 600).
STATE_SECONDS = 600


class WorkspaceNotInstalled(LookupError):
    """The clinic's workspace has no working installation (never installed, uninstalled, token revoked)."""


def refuse_socket_mode(settings: Settings) -> None:
    """SettingsError when Socket Mode and OAuth are both configured: Slack allows Socket Mode only for apps
    that are not distributed (https://docs.slack.dev/apis/events-api/using-socket-mode)."""
    if settings.oauth_enabled and settings.slack_app_token:
        raise SettingsError(
            [
                "SLACK_APP_TOKEN (Socket Mode) cannot be used with SLACK_CLIENT_ID/SLACK_CLIENT_SECRET/"
                "SLACK_STATE_SECRET (OAuth): Slack does not allow Socket Mode for distributed apps; unset one"
            ]
        )


class SignedStateStore(OAuthStateStore):
    """The SQLAlchemy state store, with each state signed by SLACK_STATE_SECRET (HMAC-SHA256): a state
    that was not issued by this deployment is refused before the database is asked."""

    def __init__(self, inner: SQLAlchemyOAuthStateStore, secret: str) -> None:
        self.inner = inner
        self.secret = secret.encode("utf-8")

    @property
    def logger(self) -> logging.Logger:
        return log

    def _sign(self, state: str) -> str:
        return hmac.new(self.secret, state.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state = self.inner.issue(*args, **kwargs)
        return f"{state}.{self._sign(state)}"

    def consume(self, state: str) -> bool:
        raw, _, signature = state.rpartition(".")
        if not raw or not hmac.compare_digest(signature, self._sign(raw)):
            log.warning("refused an OAuth redirect whose state this app did not issue")
            return False
        return bool(self.inner.consume(raw))


def installation_store(settings: Settings, engine: Engine) -> SQLAlchemyInstallationStore:
    """slack_sdk's SQLAlchemy installation store over the app's database (tables made by Alembic)."""
    return SQLAlchemyInstallationStore(
        client_id=settings.slack_client_id or "", engine=engine, logger=logging.getLogger("slack_sdk.oauth")
    )


def oauth_flow(settings: Settings, engine: Engine, store: SQLAlchemyInstallationStore) -> OAuthFlow:
    """Bolt's OAuth flow: Add to Slack at /slack/install, the code exchanged at /slack/oauth_redirect with
    oauth.v2.access at SLACK_API_URL, the installation saved in `store`."""
    states = SignedStateStore(
        SQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine, logger=log),
        settings.slack_state_secret or "",
    )
    redirect_uri = settings.public_base_url.rstrip("/") + REDIRECT_PATH if settings.public_base_url else None
    oauth = OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        redirect_uri=redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=store,
        state_store=states,
        state_expiration_seconds=STATE_SECONDS,
        logger=log,
    )
    return OAuthFlow(client=build_client(settings), logger=log, settings=oauth)


def forget_on_uninstall(app: App, store: SQLAlchemyInstallationStore) -> None:
    """app_uninstalled deletes the workspace's installation, tokens_revoked its bot token (when the bot's
    was revoked); both logged, since that workspace's Slack notices are held from then on
    (https://docs.slack.dev/reference/events/app_uninstalled, .../tokens_revoked)."""

    def where(context: BoltContext) -> tuple[str | None, str | None]:
        return context.enterprise_id, None if context.is_enterprise_install else context.team_id

    def uninstalled(context: BoltContext) -> None:
        enterprise_id, team_id = where(context)
        store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
        log.warning(
            "the app was uninstalled from Slack workspace %s: its alerts keep texting, their Slack notices "
            "are held until the app is installed there again (/slack/install)",
            team_id or enterprise_id,
        )

    def revoked(event: dict[str, Any], context: BoltContext) -> None:
        if not (event.get("tokens") or {}).get("bot"):
            return  # only user tokens were revoked; the app has none
        enterprise_id, team_id = where(context)
        store.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        store.delete_installation(enterprise_id=enterprise_id, team_id=team_id)
        log.warning(
            "the bot token of Slack workspace %s was revoked: its Slack notices are held until the app is "
            "installed there again (/slack/install)",
            team_id or enterprise_id,
        )

    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)


class WorkspaceTokens:
    """The Web API client for the workspace a clinic or a channel belongs to.

    Single-token mode (`store` None): always `default`. OAuth mode: the clinic's installation, looked up by
    its team id (and, for an Enterprise Grid org-wide install, its enterprise id) at every call, so an
    uninstall or a reinstall takes effect at once. Raises WorkspaceNotInstalled when there is none.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        default: WebClient,
        store: SQLAlchemyInstallationStore | None = None,
    ) -> None:
        self.sessions = sessions
        self.default = default
        self.store = store
        self._clients: dict[str, WebClient] = {}
        self._lock = threading.Lock()

    @property
    def oauth(self) -> bool:
        return self.store is not None

    def token(self, team_id: str | None, enterprise_id: str | None) -> str:
        """The bot token of a workspace; WorkspaceNotInstalled when it has none."""
        if self.store is None:
            return str(self.default.token or "")
        if not team_id and not enterprise_id:
            raise WorkspaceNotInstalled("the clinic is not linked to a Slack workspace (no team id)")
        bot = self.store.find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None and enterprise_id:
            bot = self.store.find_bot(enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True)
        if bot is None or not bot.bot_token:
            where = team_id or enterprise_id
            raise WorkspaceNotInstalled(f"the app is not installed in Slack workspace {where}")
        return bot.bot_token

    def client(self, team_id: str | None, enterprise_id: str | None) -> WebClient:
        """A client carrying the workspace's bot token (one per token, reused)."""
        if self.store is None:
            return self.default
        token = self.token(team_id, enterprise_id)
        with self._lock:
            found = self._clients.get(token)
            if found is None:
                found = WebClient(
                    token=token,
                    base_url=self.default.base_url,
                    timeout=self.default.timeout,
                    retry_handlers=self.default.retry_handlers,
                )
                self._clients[token] = found
            return found

    def for_clinic(self, clinic_id: int) -> WebClient:
        """The client of the clinic's workspace."""
        if self.store is None:
            return self.default
        with self.sessions() as session:
            clinic = session.get(Clinic, clinic_id)
            team, enterprise = (clinic.slack_team_id, clinic.slack_enterprise_id) if clinic else (None, None)
        return self.client(team, enterprise)

    def for_channel(self, channel_id: str) -> WebClient:
        """The client of the workspace of the clinic whose channel (or conversation thread) this is."""
        if self.store is None:
            return self.default
        with self.sessions() as session:
            row = session.execute(
                select(Clinic.slack_team_id, Clinic.slack_enterprise_id)
                .where(Clinic.slack_channel_id == channel_id)
                .limit(1)
            ).first()
            if row is None:
                row = session.execute(
                    select(Clinic.slack_team_id, Clinic.slack_enterprise_id)
                    .join(Conversation, Conversation.clinic_id == Clinic.id)
                    .where(Conversation.slack_channel_id == channel_id)
                    .limit(1)
                ).first()
        if row is None:
            raise WorkspaceNotInstalled(f"channel {channel_id} belongs to no clinic")
        return self.client(row[0], row[1])


class WorkspaceNotifier:
    """The Notifier port in OAuth mode: each alert's notices go through its clinic's workspace token.

    When the workspace has no working token the notice is held: the activity entry is skipped (the
    outcome is posted instead), progress is skipped, and completion raises so the finalizer keeps it and
    tries again on its next run, which delivers it once the workspace is reinstalled. Each hold is logged
    once per alert with the reason.
    """

    def __init__(self, tokens: WorkspaceTokens, clock: Clock) -> None:
        self.tokens = tokens
        self.clock = clock
        self._notifiers: dict[int, SlackNotifier] = {}
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def _for(self, alert: AlertSnapshot) -> SlackNotifier:
        try:
            client = self.tokens.for_clinic(alert.clinic_id)
        except WorkspaceNotInstalled as why:
            with self._lock:
                first = alert.id not in self._held
                self._held.add(alert.id)
            if first:
                log.warning(
                    "Slack notices of alert %s are held (reinstalling the app delivers them): %s",
                    alert.id,
                    why,
                )
            raise
        with self._lock:
            if alert.id in self._held:
                self._held.discard(alert.id)
                log.warning("Slack notices of alert %s are delivered again (workspace reinstalled)", alert.id)
            notifier = self._notifiers.get(id(client))
            if notifier is None:
                notifier = self._notifiers[id(client)] = SlackNotifier(client, self.clock)
            return notifier

    def held(self) -> set[int]:
        """Alerts whose Slack notices are waiting for their workspace's installation."""
        with self._lock:
            return set(self._held)

    def alert_started(self, alert: AlertSnapshot) -> PostedMessage | None:
        return self._for(alert).alert_started(alert)

    def alert_progress(self, alert: AlertSnapshot) -> None:
        try:
            notifier = self._for(alert)
        except WorkspaceNotInstalled:
            return
        notifier.alert_progress(alert)

    def alert_completed(self, alert: AlertSnapshot, report: Path) -> str | None:
        return self._for(alert).alert_completed(alert, report)
