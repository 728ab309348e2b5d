"""`mass-alert check` asks Slack for exactly the bot scopes the app manifest requests."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.cli_check import BOT_SCOPES

ROOT = Path(__file__).resolve().parents[2]


def test_check_wants_the_manifests_bot_scopes() -> None:
    manifest = yaml.safe_load((ROOT / "app.yaml").read_text(encoding="utf-8"))
    assert sorted(BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
