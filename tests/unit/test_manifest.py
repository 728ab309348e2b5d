"""app.yaml is a complete Slack app manifest for exactly what the app uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.cli_check import BOT_SCOPES
from bot.ids import CallbackId

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
    }
    assert settings["interactivity"] == {"is_enabled": True, "request_url": EVENTS_URL}
    assert settings["org_deploy_enabled"] is False
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_message_events_have_their_history_scopes(manifest: dict[str, Any]) -> None:
    needs = {"message.channels": "channels:history", "message.groups": "groups:history"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert needs.get(event, "commands") in scopes
