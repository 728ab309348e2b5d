"""The serving process: the Bolt app, Twilio routes and /healthz on waitress (or Socket Mode), and the dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import Register, create_app
from bot.container import AppContext
from bot.conversation_relay import SYNC_JOB_ID, ConversationRelay
from bot.inbound import make_inbound_handler
from bot.main import build_dispatcher, build_gateway
from bot.notifier import SlackNotifier, build_client
from bot.runtime import Runtime
from bot.web import TwilioRoutes, WebApp, serve_in_thread
from commands import conversations
from services.scheduler import DeliveryWorker
from services.sms import SmsGateway

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
InboundFactory = Callable[[AppContext], Callable[[dict[str, str]], str]]


class _LateApp:
    """A WSGI app set after the server is bound (so the port is known before the routes are built)."""

    def __init__(self) -> None:
        self.app: WSGIApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.app is None:
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain"), ("Content-Length", "8")]
            )
            return [b"starting"]
        return self.app(environ, start_response)


@dataclass
class Served:
    """A running `mass-alert serve`: the HTTP server, the Bolt app, and optionally Socket Mode and the dispatcher."""

    app: App
    context: AppContext
    http: Any
    worker: DeliveryWorker | None = None
    socket_mode: Any | None = None
    relay: ConversationRelay | None = None
    relay_jobs: Any | None = None

    @property
    def base_url(self) -> str:
        """http://HOST:PORT of the HTTP server."""
        return f"http://{self.http.effective_host}:{self.http.effective_port}"

    @property
    def events_url(self) -> str:
        """Where Slack sends commands, interactivity and events (HTTP mode)."""
        return f"{self.base_url}/slack/events"

    def close(self) -> None:
        """Stop the dispatcher first (in-flight texts finish), then Socket Mode and the HTTP server."""
        if self.worker is not None:
            self.worker.stop()
        if self.socket_mode is not None:
            self.socket_mode.close()
        if self.relay_jobs is not None:
            self.relay_jobs.shutdown(wait=True)
        if self.relay is not None:
            self.relay.close()
        self.http.close()  # lets the requests being answered finish first


def start(
    runtime: Runtime,
    *,
    host: str | None = None,
    port: int | None = None,
    worker: bool = True,
    gateway: SmsGateway | None = None,
    callbacks_to_self: bool = False,
    extra_listeners: Sequence[Register] = (),
    inbound: InboundFactory | None = None,
    threads: int = 8,
    finalize_every: float = 1.0,
) -> Served:
    """Serve the app; `callbacks_to_self` points PUBLIC_BASE_URL at this server when it is not set.

    `extra_listeners` are `register(app, ctx)` callables (e.g. the conversation listeners); `inbound(ctx)`
    builds the handler of Twilio's inbound-text webhook.
    """
    late = _LateApp()
    http = serve_in_thread(
        late, host or runtime.settings.host, runtime.settings.port if port is None else port, threads=threads
    )
    served: Served | None = None
    try:
        if callbacks_to_self and not runtime.settings.public_base_url:
            runtime.settings = replace(
                runtime.settings, public_base_url=f"http://{http.effective_host}:{http.effective_port}"
            )
        settings = runtime.settings
        client = build_client(settings)
        ctx = AppContext(settings=settings, sessions=runtime.sessions, clock=runtime.clock, client=client)
        relay = ConversationRelay(runtime.sessions, client, runtime.clock, lanes=4)
        replies: Register = partial(conversations.register, relay=relay)
        app = create_app(ctx, extra_listeners=(replies, *extra_listeners))
        served = Served(app, ctx, http, relay=relay)
        slack: WSGIApp | None = SlackRequestHandler(app)
        if settings.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            served.socket_mode = SocketModeHandler(app, settings.slack_app_token)
            served.socket_mode.connect()
            slack = None  # Slack reaches the app over the socket; only Twilio and /healthz are served
        handler = inbound(ctx) if inbound is not None else make_inbound_handler(ctx, relay)
        twilio = TwilioRoutes(
            runtime.sessions,
            runtime.clock,
            settings.twilio_auth_token,
            settings.public_base_url,
            inbound=handler,
        )
        late.app = WebApp(runtime.sessions, twilio, slack=slack)
        if worker:
            notifier = SlackNotifier(client, runtime.clock)
            dispatcher = build_dispatcher(runtime, gateway or build_gateway(settings), notifier)
            served.worker = DeliveryWorker(
                dispatcher,
                interval=settings.dispatch_interval_seconds,
                concurrency=settings.send_concurrency,
                finalize_every=finalize_every,
            )
            served.worker.add_job(SYNC_JOB_ID, relay.sync, 2.0)
            served.worker.start()
        else:
            # The dispatcher runs in `mass-alert worker`; the Slack side of replies stays with this process.
            from apscheduler.schedulers.background import BackgroundScheduler

            served.relay_jobs = BackgroundScheduler(
                timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
            )
            served.relay_jobs.add_job(
                relay.sync, "interval", seconds=2.0, id=SYNC_JOB_ID, replace_existing=True
            )
            served.relay_jobs.start()
        return served
    except BaseException:
        if served is not None:
            served.worker = None  # not started (start() is the last step)
            served.close()
        else:
            http.close()
        raise
