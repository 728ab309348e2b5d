"""app.yaml is a complete Slack app manifest for exactly what the app uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.ids import CallbackId
from bot.oauth import BOT_SCOPES, REDIRECT_PATH

yaml = pytest.importorskip("yaml", reason="PyYAML is a test extra (pip install -e .[test])")
MANIFEST = Path(__file__).resolve().parents[2] / "app.yaml"
EVENTS_URL = "https://YOUR-HOST/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_metadata_and_display_information(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    info = manifest["display_information"]
    assert info["name"] == "Mass Text Alerts" and len(info["name"]) <= 35
    assert 0 < len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000
    assert info["background_color"].startswith("#") and len(info["background_color"]) == 7


def test_features(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    assert features["bot_user"] == {"display_name": "Mass Text Alerts", "always_online": True}
    [command] = features["slash_commands"]
    assert command["command"] == "/mass-alert" and command["url"] == EVENTS_URL
    assert command["should_escape"] is False and command["description"] and command["usage_hint"]
    [shortcut] = features["shortcuts"]
    assert shortcut["type"] == "global" and shortcut["callback_id"] == CallbackId.SHORTCUT
    assert shortcut["name"] == "Send a mass text alert" and shortcut["description"]


def test_only_the_scopes_the_app_uses(manifest: dict[str, Any]) -> None:
    # BOT_SCOPES is the list: what `mass-alert check` wants Slack's x-oauth-scopes to hold.
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_settings_point_at_the_one_events_endpoint(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["request_url"] == EVENTS_URL
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "message.channels",
        "message.groups",
        "app_uninstalled",
        "tokens_revoked",
    }
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert settings["org_deploy_enabled"] is False
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_oauth_redirects_to_bolts_redirect_path(manifest: dict[str, Any]) -> None:
    assert manifest["oauth_config"]["redirect_urls"] == [EVENTS_URL.replace("/slack/events", REDIRECT_PATH)]


def test_message_events_have_their_history_scopes(manifest: dict[str, Any]) -> None:
    needs = {"message.channels": "channels:history", "message.groups": "groups:history"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert needs.get(event, "commands") in scopes


#: Each bot scope and the Web API calls (or events) in the source that need it: a scope nothing uses goes.
SCOPE_USES = {
    "commands": ("app.command(",),
    "chat:write": ("chat_postMessage(", "chat_update(", "chat_postEphemeral("),
    "files:write": ("files_upload_v2(",),
    "users:read": ("users_info(",),
    "users:read.email": ('get("email")',),
    # the confirmation's warning when the bot is not in the clinic's channel (public, private)
    "channels:read": ("conversations_info(",),
    "groups:read": ("conversations_info(",),
    # staff replies in conversation threads: message.channels / message.groups events
    "channels:history": ('"message"',),
    "groups:history": ('"message"',),
    "im:write": ("conversations_open(",),
}


def test_every_scope_is_used_by_the_code(manifest: dict[str, Any]) -> None:
    root = MANIFEST.parent
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("bot", "commands")
        for path in (root / folder).rglob("*.py")
    )
    for scope in manifest["oauth_config"]["scopes"]["bot"]:
        uses = SCOPE_USES.get(scope)
        assert uses is not None, f"{scope}: no known use; drop it from app.yaml or say what needs it"
        assert any(use in source for use in uses), f"{scope} is requested but nothing calls {uses}"
