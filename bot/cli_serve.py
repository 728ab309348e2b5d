"""`mass-alert serve`: the Slack app, the Twilio webhooks and /healthz, with the dispatcher in-process."""

from __future__ import annotations

import argparse
import os
import signal
import threading

from bot import serve
from bot.main import Overrides, crash_points
from bot.oauth import refuse_socket_mode
from services.db import make_engine
from services.logs import setup_logging
from services.schema import require_head
from services.settings import SLACK, TWILIO, Settings, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Slack app (HTTP or Socket Mode), the Twilio webhooks and the dispatcher",
        description="Serve /slack/events, /twilio/status, /twilio/inbound, /healthz, /readyz and /metrics on "
        "waitress; Socket Mode instead of /slack/events when SLACK_APP_TOKEN is set. The dispatcher runs "
        "here unless --no-worker is given (then run `mass-alert worker` beside it).",
    )
    parser.add_argument(
        "--no-worker", action="store_true", help="leave sending to a separate `mass-alert worker`"
    )
    parser.add_argument("--host", help="interface to listen on (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: PORT or 3000)")
    parser.set_defaults(func=_serve)


def prepare_process(settings: Settings) -> None:
    """Logging as configured, then refuse (DomainError naming `mass-alert db upgrade`) a database that is
    unreachable or not at the newest schema; a missing SQLite file is reported, never created."""
    setup_logging(settings.log_level, settings.log_format)
    refuse_socket_mode(settings)  # a configuration conflict is said before the database is touched
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    try:
        require_head(engine)
    finally:
        engine.dispose()


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(require=(SLACK, TWILIO))
    prepare_process(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    overrides = Overrides(crash_points=crash_points(os.environ))  # the outermost edge reads the env
    served = serve.start(settings, overrides, host=args.host, port=args.port, worker=not args.no_worker)
    mode = "Socket Mode" if served.socket_mode is not None else f"HTTP at {served.events_url}"
    worker = (
        f"dispatcher {served.worker.holder}" if served.worker is not None else "no dispatcher (--no-worker)"
    )
    print(
        f"Mass Text Alerts serving on {served.base_url}: Slack via {mode}; Twilio webhooks at "
        f"{served.base_url}/twilio/status and /twilio/inbound; {worker}. Ctrl-C to stop.",
        flush=True,
    )
    try:
        stop.wait()
    finally:
        served.close()
    return 0
