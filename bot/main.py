"""Composition root: settings -> engine -> gateway -> dispatcher (-> Slack app, in bot.serve)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from bot.runtime import Runtime
from services.delivery import DispatchConfig, Dispatcher
from services.notify import Notifier
from services.settings import Settings
from services.sms import SmsGateway, TwilioGateway


def build_gateway(settings: Settings) -> SmsGateway:
    """The Twilio gateway (the settings were validated with the TWILIO group required)."""
    assert settings.twilio_account_sid and settings.twilio_auth_token
    return TwilioGateway(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        api_url=settings.twilio_api_url,
        timeout=settings.twilio_timeout_seconds,
    )


def dispatch_config(settings: Settings) -> DispatchConfig:
    """Dispatcher tunables from the settings."""
    return DispatchConfig(
        sender_max_per_second=settings.sender_max_per_second,
        lookahead_seconds=max(0.5, settings.dispatch_interval_seconds * 4),
        lease_seconds=settings.lease_seconds or settings.twilio_timeout_seconds + 10,
        in_doubt_recheck_seconds=min(10.0, settings.lease_seconds or 10.0),
        completion_grace_seconds=settings.completion_grace_seconds,
        public_base_url=settings.public_base_url,
        reports_dir=settings.reports_dir,
    )


def crash_points(environ: Mapping[str, str]) -> dict[str, int]:
    """MASS_ALERT_CRASH_AT=claimed:2 (test-only fault injection) -> {"claimed": 2}."""
    points: dict[str, int] = {}
    for item in filter(None, environ.get("MASS_ALERT_CRASH_AT", "").split(",")):
        name, _, count = item.partition(":")
        points[name.strip()] = int(count or 1)
    return points


def build_dispatcher(runtime: Runtime, gateway: SmsGateway, notifier: Notifier | None = None) -> Dispatcher:
    """A dispatcher wired to this process's database, clock and notifier."""
    dispatcher = Dispatcher(
        runtime.sessions,
        gateway,
        runtime.clock,
        dispatch_config(runtime.settings),
        notifier,
        capacity=runtime.settings.send_concurrency,
    )
    dispatcher.crash_points = crash_points(os.environ)
    return dispatcher
