"""The composition root: settings (+ overrides) -> engine -> clock -> Slack client -> gateway -> dispatcher.

`build` is the one place the process's objects are made; `serve`, `worker`, `send` and `demo` all call it
and change nothing afterwards. What differs between them (a console notifier, a quicker progress notice,
the crash tests' fault injection) comes in through `Overrides`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from slack_sdk import WebClient

from bot.console import ConsoleNotifier
from bot.container import AppContext
from bot.conversation_relay import ConversationRelay
from bot.notifier import SlackNotifier, build_client
from bot.oauth import WorkspaceNotifier, WorkspaceTokens, installation_store, refuse_socket_mode
from services.clock import Clock, SystemClock
from services.db import make_engine, make_session_factory
from services.delivery import DispatchConfig, Dispatcher
from services.notify import Notifier
from services.scheduler import DeliveryWorker
from services.settings import Settings, SettingsError
from services.sms import SmsGateway, TwilioGateway

#: Background Slack lanes of the reply relay: the Twilio webhook never waits for Slack.
RELAY_LANES = 4
#: The environment variable the crash tests set; read only by the CLI entry points (`crash_points`).
CRASH_AT = "MASS_ALERT_CRASH_AT"


@dataclass(frozen=True)
class Overrides:
    """What a caller puts in place of the defaults `build` would choose."""

    clock: Clock | None = None
    #: Instead of Twilio (tests).
    gateway: SmsGateway | None = None
    #: Instead of Slack (when a bot token is set) or the terminal.
    notifier: Notifier | None = None
    #: Seconds between progress notices in the channel; None keeps DispatchConfig's default.
    progress_interval_seconds: float | None = None
    #: Test-only fault injection: {"claimed"|"sent"|"stored"|"starting"|"started": n} kills the process the
    #: nth time there.
    crash_points: Mapping[str, int] = field(default_factory=dict)


def build_gateway(settings: Settings) -> SmsGateway | None:
    """The Twilio gateway, or None when the Twilio credentials are not configured."""
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        return None
    return TwilioGateway(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        api_url=settings.twilio_api_url,
        timeout=settings.twilio_timeout_seconds,
        validity_seconds=settings.alert_validity_seconds,
    )


def dispatch_config(settings: Settings, progress_interval_seconds: float | None = None) -> DispatchConfig:
    """Dispatcher tunables from the settings."""
    config = DispatchConfig(
        sender_max_per_second=settings.sender_max_per_second,
        lookahead_seconds=max(0.5, settings.dispatch_interval_seconds * 4),
        lease_seconds=settings.lease_seconds or settings.twilio_timeout_seconds + 10,
        in_doubt_recheck_seconds=min(10.0, settings.lease_seconds or 10.0),
        completion_grace_seconds=settings.completion_grace_seconds,
        public_base_url=settings.public_base_url,
        reports_dir=settings.reports_dir,
        alert_max_chars=settings.alert_max_chars,
    )
    if progress_interval_seconds is None:
        return config
    return replace(config, progress_interval_seconds=progress_interval_seconds)


def crash_points(environ: Mapping[str, str]) -> dict[str, int]:
    """MASS_ALERT_CRASH_AT=claimed:2 (test-only fault injection) -> {"claimed": 2}."""
    points: dict[str, int] = {}
    for item in filter(None, environ.get(CRASH_AT, "").split(",")):
        name, _, count = item.partition(":")
        points[name.strip()] = int(count or 1)
    return points


def _slack_notifier(
    client: WebClient | None, tokens: WorkspaceTokens | None, clock: Clock
) -> Notifier | None:
    if tokens is not None:
        return WorkspaceNotifier(tokens, clock)
    return SlackNotifier(client, clock) if client is not None else None


def slack_notifier(ctx: AppContext) -> Notifier | None:
    """The channel's notifier for a verb whose own notices go to the terminal (a scheduled alert's entry,
    posted by `send --at` and edited by `cancel`); None when this process has no Slack bot token or OAuth."""
    return _slack_notifier(ctx.client, ctx.tokens, ctx.clock)


def build(settings: Settings, overrides: Overrides | None = None) -> AppContext:
    """Everything this process runs on, from validated settings; `close()` releases it."""
    overrides = overrides or Overrides()
    refuse_socket_mode(settings)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    sessions = make_session_factory(engine)
    clock = overrides.clock or SystemClock()
    # OAuth mode: no token of its own; Bolt and WorkspaceTokens use each workspace's installation.
    client = build_client(settings) if settings.slack_bot_token or settings.oauth_enabled else None
    store = installation_store(settings, engine) if settings.oauth_enabled else None
    tokens = WorkspaceTokens(sessions, client, store) if store is not None and client is not None else None
    notifier = overrides.notifier or _slack_notifier(client, tokens, clock) or ConsoleNotifier()
    gateway = overrides.gateway or build_gateway(settings)
    reader = gateway.fetch_media if isinstance(gateway, TwilioGateway) else None
    relay = (
        ConversationRelay(
            sessions,
            client,
            clock,
            lanes=RELAY_LANES,
            client_for_channel=tokens.for_channel if tokens is not None else None,
            media_reader=reader,
        )
        if client is not None
        else None
    )
    dispatcher = None
    if gateway is not None:
        dispatcher = Dispatcher(
            sessions,
            gateway,
            clock,
            dispatch_config(settings, overrides.progress_interval_seconds),
            notifier,
            capacity=settings.send_concurrency,
            crash_points=overrides.crash_points,
        )
    return AppContext(
        settings=settings,
        sessions=sessions,
        clock=clock,
        client=client,
        engine=engine,
        notifier=notifier,
        relay=relay,
        dispatcher=dispatcher,
        installations=store,
        tokens=tokens,
    )


def delivery_worker(ctx: AppContext, *, finalize_every: float = 1.0) -> DeliveryWorker:
    """The dispatcher's background jobs for this process (not started); needs an SMS gateway."""
    if ctx.dispatcher is None:
        raise SettingsError(["sending texts needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"])
    return DeliveryWorker(
        ctx.dispatcher,
        interval=ctx.settings.dispatch_interval_seconds,
        concurrency=ctx.settings.send_concurrency,
        finalize_every=finalize_every,
    )
