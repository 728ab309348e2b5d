"""Workspaces the sandbox Slack knows: a bot token per team, OAuth v2 installs, uninstalls and revoked tokens.

Shapes follow https://docs.slack.dev/reference/methods/oauth.v2.access (token_type "bot",
access_token, scope, bot_user_id, app_id, team {id, name}, enterprise, authed_user,
is_enterprise_install) and https://docs.slack.dev/reference/methods/apps.uninstall.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

#: The bot scopes the sandbox grants when an install does not name them (the app manifest's).
DEFAULT_SCOPES = (
    "commands,chat:write,chat:write.public,channels:read,groups:read,im:write,users:read,"
    "users:read.email,files:write,files:read,channels:history,groups:history"
)


@dataclass
class Workspace:
    """One Slack team with the app installed (or pending install through OAuth)."""

    team_id: str
    team_name: str
    team_domain: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    scopes: str = DEFAULT_SCOPES
    installed: bool = True
    installer_user_id: str | None = None


@dataclass(frozen=True)
class OAuthCode:
    """A code Slack hands the app's redirect URL, to exchange once with oauth.v2.access."""

    team_id: str
    user_id: str
    scopes: str
    redirect_uri: str | None


@dataclass
class Installations:
    """Tokens per team, OAuth codes waiting for exchange, and tokens that no longer work."""

    client_id: str
    client_secret: str
    app_id: str
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    codes: dict[str, OAuthCode] = field(default_factory=dict)

    def add(self, workspace: Workspace) -> Workspace:
        """Register `workspace` and its bot token."""
        self.workspaces[workspace.team_id] = workspace
        if workspace.installed:
            self.tokens[workspace.bot_token] = workspace.team_id
        return workspace

    def team_of(self, token: str) -> tuple[Workspace | None, str | None]:
        """(workspace, None) for a live bot token; (None, Slack's error) otherwise."""
        if token in self.revoked:
            return None, "token_revoked"
        team = self.tokens.get(token)
        if team is None:
            return None, "invalid_auth"
        return self.workspaces[team], None

    def issue_code(self, team_id: str, user_id: str, scopes: str, redirect_uri: str | None) -> str:
        """A fresh single-use OAuth code for `team_id` (the team must be registered)."""
        if team_id not in self.workspaces:
            raise KeyError(team_id)
        code = f"{team_id}.{secrets.token_hex(12)}"
        self.codes[code] = OAuthCode(team_id, user_id, scopes, redirect_uri)
        return code

    def exchange(
        self, client_id: str, client_secret: str, code: str, redirect_uri: str | None
    ) -> dict[str, Any]:
        """oauth.v2.access: a new bot token for the code's team; raises LookupError with Slack's error."""
        if client_id != self.client_id:
            raise LookupError("invalid_client_id")
        if client_secret != self.client_secret:
            raise LookupError("bad_client_secret")
        grant = self.codes.pop(code, None)
        if grant is None:
            raise LookupError("invalid_code")
        if grant.redirect_uri is not None and redirect_uri not in (None, "", grant.redirect_uri):
            raise LookupError("bad_redirect_uri")
        workspace = self.workspaces[grant.team_id]
        self.revoke(workspace.bot_token)
        workspace.bot_token = f"xoxb-{grant.team_id}-{secrets.token_hex(12)}"
        workspace.scopes, workspace.installed = grant.scopes, True
        workspace.installer_user_id = grant.user_id
        self.revoked.discard(workspace.bot_token)
        self.tokens[workspace.bot_token] = workspace.team_id
        enterprise = (
            {"id": workspace.enterprise_id, "name": workspace.enterprise_name or workspace.enterprise_id}
            if workspace.enterprise_id
            else None
        )
        return {
            "access_token": workspace.bot_token,
            "token_type": "bot",
            "scope": workspace.scopes,
            "bot_user_id": workspace.bot_user_id,
            "app_id": self.app_id,
            "team": {"id": workspace.team_id, "name": workspace.team_name},
            "enterprise": enterprise,
            "is_enterprise_install": False,
            "authed_user": {"id": grant.user_id},
        }

    def revoke(self, token: str) -> None:
        """The token stops working (calls answer token_revoked)."""
        if self.tokens.pop(token, None) is not None:
            self.revoked.add(token)

    def uninstall(self, team_id: str) -> None:
        """The app is removed from `team_id`: its bot token is revoked."""
        workspace = self.workspaces[team_id]
        self.revoke(workspace.bot_token)
        workspace.installed = False
