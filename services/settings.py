"""Settings read from environment variables, validated once with every problem named."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import phonenumbers

DEFAULT_DATABASE_URL = "sqlite:///mass_alert.db"

#: Groups of variables a process needs; `load_settings(require=...)` checks these.
SLACK = "slack"
SLACK_HTTP = "slack_http"
TWILIO = "twilio"


class SettingsError(Exception):
    """One or more environment variables are missing or malformed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Configuration problem(s) in the environment:\n{lines}")


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    default_region: str = "US"
    alert_pace_seconds: float = 12.0
    sender_max_per_second: float = 1.0
    alert_max_chars: int = 320
    completion_grace_seconds: float = 600.0
    dispatch_interval_seconds: float = 0.05
    send_concurrency: int = 32
    reports_dir: Path = field(default_factory=lambda: Path("reports"))
    public_base_url: str | None = None
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_url: str | None = None
    twilio_timeout_seconds: float = 10.0
    #: Twilio's ValidityPeriod for texts, seconds (1 to 36,000): a text still queued after it is dropped.
    alert_validity_seconds: int = 14_400
    #: Who answers STOP/START/HELP: "twilio" (Twilio's own opt-out handling; the app only records) or "app".
    twilio_opt_out_replies: str = "twilio"
    lease_seconds: float | None = None
    host: str = "127.0.0.1"
    port: int = 3000
    log_level: str = "WARNING"


def _url(name: str, value: str, problems: list[str]) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append(f"{name} must be an http(s) URL such as https://example.org, got {value!r}")
    return value.rstrip("/")


def _number(name: str, value: str, problems: list[str], *, minimum: float, integer: bool = False) -> float:
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        problems.append(f"{name} must be {kind}, got {value!r}")
        return minimum
    if number < minimum:
        problems.append(f"{name} must be at least {minimum:g}, got {value!r}")
    return number


def load_settings(environ: Mapping[str, str] | None = None, require: Iterable[str] = ()) -> Settings:
    """Build Settings from `environ`; raise SettingsError naming every bad variable."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    needed = set(require)

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    values: dict[str, object] = {}
    if (db := get("DATABASE_URL")) is not None:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", db):
            problems.append(f"DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, got {db!r}")
        values["database_url"] = db
    if (region := get("DEFAULT_PHONE_REGION")) is not None:
        if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            problems.append(f"DEFAULT_PHONE_REGION must be a two-letter region such as US, got {region!r}")
        values["default_region"] = region.upper()
    numeric = {
        "ALERT_PACE_SECONDS": ("alert_pace_seconds", 0.0, False),
        "SENDER_MAX_PER_SECOND": ("sender_max_per_second", 0.01, False),
        "ALERT_MAX_CHARS": ("alert_max_chars", 1, True),
        "COMPLETION_GRACE_SECONDS": ("completion_grace_seconds", 0.0, False),
        "DISPATCH_INTERVAL_SECONDS": ("dispatch_interval_seconds", 0.005, False),
        "SEND_CONCURRENCY": ("send_concurrency", 1, True),
        "TWILIO_TIMEOUT_SECONDS": ("twilio_timeout_seconds", 0.1, False),
        "DELIVERY_LEASE_SECONDS": ("lease_seconds", 0.5, False),
        "PORT": ("port", 0, True),
    }
    for name, (attr, minimum, integer) in numeric.items():
        if (raw := get(name)) is not None:
            values[attr] = _number(name, raw, problems, minimum=minimum, integer=integer)
    if (reports := get("REPORTS_DIR")) is not None:
        values["reports_dir"] = Path(reports)
    for name, attr in (("HOST", "host"), ("LOG_LEVEL", "log_level")):
        if (raw := get(name)) is not None:
            values[attr] = raw
    for name, attr in (
        ("PUBLIC_BASE_URL", "public_base_url"),
        ("SLACK_API_URL", "slack_api_url"),
        ("TWILIO_API_URL", "twilio_api_url"),
    ):
        if (raw := get(name)) is not None:
            values[attr] = _url(name, raw, problems)

    token = get("SLACK_BOT_TOKEN")
    if token is not None and not token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    app_token = get("SLACK_APP_TOKEN")
    if app_token is not None and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    secret = get("SLACK_SIGNING_SECRET")
    if SLACK in needed or SLACK_HTTP in needed:
        if token is None:
            problems.append("SLACK_BOT_TOKEN is required (the bot token, xoxb-..., from OAuth & Permissions)")
        if secret is None and app_token is None:
            problems.append("SLACK_SIGNING_SECRET is required (Basic Information > Signing Secret)")
    values.update(slack_bot_token=token, slack_signing_secret=secret, slack_app_token=app_token)

    sid = get("TWILIO_ACCOUNT_SID")
    auth = get("TWILIO_AUTH_TOKEN")
    if sid is not None and not re.fullmatch(r"AC[0-9a-fA-F]{32}", sid):
        problems.append("TWILIO_ACCOUNT_SID must look like AC followed by 32 hex characters")
    if TWILIO in needed:
        if sid is None:
            problems.append("TWILIO_ACCOUNT_SID is required (Twilio Console > Account Info)")
        if auth is None:
            problems.append("TWILIO_AUTH_TOKEN is required (Twilio Console > Account Info)")
    values.update(twilio_account_sid=sid, twilio_auth_token=auth)
    if (validity := get("ALERT_VALIDITY_SECONDS")) is not None:
        seconds = _number("ALERT_VALIDITY_SECONDS", validity, problems, minimum=1, integer=True)
        if seconds > 36_000:  # Twilio's ValidityPeriod maximum (error 21624 above it)
            problems.append(
                f"ALERT_VALIDITY_SECONDS must be at most 36000 (Twilio's limit), got {validity!r}"
            )
        values["alert_validity_seconds"] = int(seconds)
    if (replies := get("TWILIO_OPT_OUT_REPLIES")) is not None:
        if replies.lower() not in ("twilio", "app"):
            problems.append(f"TWILIO_OPT_OUT_REPLIES must be twilio or app, got {replies!r}")
        values["twilio_opt_out_replies"] = replies.lower()

    if problems:
        raise SettingsError(problems)
    return Settings(**values)  # type: ignore[arg-type]
