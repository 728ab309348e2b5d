"""The serving process: the Bolt app, Twilio routes and /healthz on waitress (or Socket Mode), dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt import App

from bot.app import create_app
from bot.container import AppContext
from bot.conversation_relay import SYNC_JOB_ID
from bot.inbound import make_inbound_handler
from bot.main import Overrides, build, delivery_worker
from bot.web import OpsRoutes, SlackRoute, TwilioRoutes, WebApp, serve_in_thread
from services.scheduler import DeliveryWorker
from services.settings import Settings

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


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
    """A running `mass-alert serve`: HTTP server, Bolt app, optionally Socket Mode and the dispatcher."""

    app: App
    context: AppContext
    http: Any
    worker: DeliveryWorker | None = None
    socket_mode: Any | None = None
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
        """Stop the dispatcher (in-flight texts finish), then Socket Mode, the HTTP server, the context."""
        if self.worker is not None:
            self.worker.stop()
        if self.socket_mode is not None:
            self.socket_mode.close()
        if self.relay_jobs is not None:
            self.relay_jobs.shutdown(wait=True)
        self.http.close()  # lets the requests being answered finish first
        self.context.close()  # the relay's background posts, then the database pool


def start(
    settings: Settings,
    overrides: Overrides | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    worker: bool = True,
    callbacks_to_self: bool = False,
    threads: int = 8,
    finalize_every: float = 1.0,
) -> Served:
    """Bind the HTTP server, build the process (`bot.main.build`) and serve it; `Served.close()` undoes all.

    `callbacks_to_self` points PUBLIC_BASE_URL at this server when it is not set (the port is known
    once bound, so the settings are completed before anything is built from them).
    """
    late = _LateApp()
    http = serve_in_thread(
        late,
        host or settings.host,
        settings.port if port is None else port,
        threads=threads,
        max_request_bytes=settings.max_request_bytes,
    )
    served: Served | None = None
    try:
        if callbacks_to_self and not settings.public_base_url:
            settings = replace(
                settings, public_base_url=f"http://{http.effective_host}:{http.effective_port}"
            )
        ctx = build(settings, overrides)
        app = create_app(ctx)
        served = Served(app, ctx, http)
        if ctx.relay is None:
            raise RuntimeError("serving Slack needs SLACK_BOT_TOKEN (or the SLACK_CLIENT_* OAuth settings)")
        slack: WSGIApp | None = SlackRoute(
            app, settings.slack_signing_secret or "", settings.max_request_bytes
        )
        if settings.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            handler = SocketModeHandler(app, settings.slack_app_token)
            handler.client.connect()  # what SocketModeHandler.connect() does; that one has no annotations
            served.socket_mode = handler
            slack = None  # Slack reaches the app over the socket; only Twilio and /healthz are served
        twilio = TwilioRoutes(
            ctx.sessions,
            ctx.clock,
            settings.twilio_auth_token,
            settings.public_base_url,
            inbound=make_inbound_handler(ctx, ctx.relay),
        )
        if worker:
            served.worker = delivery_worker(ctx, finalize_every=finalize_every)
        beats = served.worker
        ops = OpsRoutes(ctx.sessions, ctx.clock, (lambda: beats.last_beat) if beats is not None else None)
        late.app = WebApp(
            ctx.sessions,
            twilio,
            slack=slack,
            ops=ops,
            max_request_bytes=settings.max_request_bytes,
            oauth=settings.oauth_enabled,
        )
        if served.worker is not None:
            served.worker.add_job(SYNC_JOB_ID, ctx.relay.sync, 2.0)
            served.worker.start()
        else:
            # The dispatcher runs in `mass-alert worker`; the Slack side of replies stays with this process.
            from apscheduler.schedulers.background import BackgroundScheduler

            served.relay_jobs = BackgroundScheduler(
                timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
            )
            served.relay_jobs.add_job(
                ctx.relay.sync, "interval", seconds=2.0, id=SYNC_JOB_ID, replace_existing=True
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
