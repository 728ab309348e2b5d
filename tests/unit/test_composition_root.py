"""The composition root: what `build` makes from the settings and what the overrides replace."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.console import ConsoleNotifier
from bot.main import Overrides, build, crash_points, delivery_worker
from services.clock import ManualClock
from services.settings import Settings, SettingsError
from tests.fakes import FakeGateway, RecordingNotifier


def test_sending_without_twilio_credentials_names_the_missing_settings(tmp_path: Path) -> None:
    ctx = build(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    try:
        assert ctx.dispatcher is None and isinstance(ctx.notifier, ConsoleNotifier) and ctx.relay is None
        with pytest.raises(SettingsError, match="TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"):
            delivery_worker(ctx)
    finally:
        ctx.close()


def test_overrides_reach_the_dispatcher_as_built_and_crash_points_come_only_from_the_caller(
    tmp_path: Path,
) -> None:
    notifier, clock = RecordingNotifier(), ManualClock()
    overrides = Overrides(
        clock=clock,
        gateway=FakeGateway(clock),
        notifier=notifier,
        progress_interval_seconds=2.0,
        crash_points=crash_points({"MASS_ALERT_CRASH_AT": "claimed:3,sent"}),
    )
    ctx = build(Settings(database_url=f"sqlite:///{tmp_path / 'b.db'}"), overrides)
    try:
        assert ctx.dispatcher is not None
        assert ctx.dispatcher.notifier is notifier and ctx.notifier is notifier
        assert ctx.dispatcher.config.progress_interval_seconds == 2.0
        assert ctx.dispatcher.crash_points == {"claimed": 3, "sent": 1}
        assert ctx.clock is clock and ctx.dispatcher.clock is clock
    finally:
        ctx.close()
