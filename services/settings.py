"""Settings read from environment variables, validated once with every problem named.

Built on pydantic and pydantic-settings (kept libraries instead of hand parsing): `Settings`, a frozen
pydantic dataclass, declares each variable as a field whose validation alias is the variable's name,
with its type and limits. `load_settings` gathers the variables with pydantic-settings' environment and
`.env` sources plus `NAME_FILE` files (for the secrets), validates them in one pass and turns every
problem into one line of a single `SettingsError`. Constructed in code, `Settings(...)` takes only the
arguments given and reads no environment, so the demo and the tests are never steered by the caller's
shell.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import phonenumbers
from pydantic import (
    AfterValidator,
    AliasGenerator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)
from pydantic.dataclasses import dataclass, is_pydantic_dataclass
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///mass_alert.db"

#: Read by `load_settings` when it reads the process environment (the working directory's `.env`).
DOTENV = Path(".env")

#: Groups of variables a process needs; `load_settings(require=...)` checks these.
SLACK = "slack"
SLACK_HTTP = "slack_http"
TWILIO = "twilio"

#: Python's logging levels (logging module docs, "Logging Levels").
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: How log records are written: one JSON object per line, or plain text.
LOG_FORMATS = ("text", "json")

#: Suffix of the variable that names a file holding a secret's value (Docker and compose secrets).
FILE_SUFFIX = "_FILE"


class SettingsError(Exception):
    """One or more environment variables are missing or malformed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Configuration problem(s) in the environment:\n{lines}")


class _Secret:
    """Field marker: the value may come from NAME_FILE and is never echoed in a message or repr."""


SECRET = _Secret()


def _database_url(value: str) -> str:
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
    return value


def _region(value: str) -> str:
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("must be a two-letter region such as US")
    return value.upper()


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    try:
        parsed.port  # noqa: B018 - reading it raises ValueError for a port outside 0-65535
    except ValueError:
        raise ValueError("must be an http(s) URL with a port from 1 to 65535") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("must be an http(s) URL such as https://example.org")
    return value.rstrip("/")


_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _host(value: str) -> str:
    """An IPv4/IPv6 address, or a host name: labels per RFC 1123 §2.1 and a top label that is not all
    digits (RFC 3696 §2), so 999.1.1.1 is refused rather than looked up."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        labels = value.split(".")
        if len(value) > 253 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
            raise ValueError(
                "must be an IP address (such as 0.0.0.0 or ::) or a host name such as localhost"
            ) from None
    return value


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value.upper()


def _log_format(value: str) -> str:
    if value.lower() not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return value.lower()


#: TWILIO_OPT_OUT_REPLIES: who answers STOP/START/HELP (Twilio's own opt-out handling, or the app).
OPT_OUT_REPLIES = ("twilio", "app")


def _opt_out_replies(value: str) -> str:
    if value.lower() not in OPT_OUT_REPLIES:
        raise ValueError(f"must be one of {', '.join(OPT_OUT_REPLIES)}")
    return value.lower()


def _prefixed(prefix: str, what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not value.startswith(prefix):
            raise ValueError(f"must be {what} starting with {prefix}")
        return value

    return AfterValidator(check)


XoxbToken = Annotated[str, _prefixed("xoxb-", "a bot token")]
XappToken = Annotated[str, _prefixed("xapp-", "an app-level token")]


def _twilio_sid(value: str) -> str:
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
        raise ValueError("must look like AC followed by 32 hex characters")
    return value


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Url = Annotated[str, AfterValidator(_http_url)]
#: Seconds or a rate: a finite number (inf and nan refused) of at least `ge`.
Seconds = Annotated[float, BeforeValidator(_strip), Field(allow_inf_nan=False)]
Whole = Annotated[int, BeforeValidator(_strip)]


def _secret() -> Any:
    """A secret field's default: unset, and left out of the repr (so out of logs)."""
    return dataclasses.field(default=None, repr=False)


@dataclass(
    frozen=True,
    config=ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        validate_by_name=True,
        validate_by_alias=True,
        alias_generator=AliasGenerator(validation_alias=str.upper),
    ),
)
class Settings:
    """Everything the app reads from its environment; each field's variable is its name in capitals
    (or its `validation_alias`). A frozen dataclass (`dataclasses.replace` works and re-validates);
    a bad value raises pydantic's ValidationError. Secrets stay out of its repr."""

    database_url: Annotated[str, SECRET, AfterValidator(_database_url)] = dataclasses.field(
        default=DEFAULT_DATABASE_URL, repr=False
    )
    default_region: Annotated[
        str, AfterValidator(_region), Field(validation_alias="DEFAULT_PHONE_REGION")
    ] = "US"
    alert_pace_seconds: Annotated[Seconds, Field(ge=0)] = 12.0
    sender_max_per_second: Annotated[Seconds, Field(ge=0.01)] = 1.0
    #: At most 1,600: Twilio's limit on a Message body (Twilio Messages resource, Body).
    alert_max_chars: Annotated[Whole, Field(ge=1, le=1600)] = 320
    completion_grace_seconds: Annotated[Seconds, Field(ge=0)] = 600.0
    dispatch_interval_seconds: Annotated[Seconds, Field(ge=0.005)] = 0.05
    send_concurrency: Annotated[Whole, Field(ge=1)] = 32
    #: SQLAlchemy's QueuePool per process (PostgreSQL): kept connections and extra ones under load.
    #: Every process may hold size + overflow, so their sum over all processes must stay under the
    #: server's max_connections (PostgreSQL's default: 100).
    database_pool_size: Annotated[Whole, Field(ge=1)] = 10
    database_max_overflow: Annotated[Whole, Field(ge=0)] = 20
    reports_dir: Annotated[Path, BeforeValidator(_strip)] = Path("reports")
    public_base_url: Url | None = None
    slack_bot_token: Annotated[XoxbToken | None, SECRET] = _secret()
    slack_signing_secret: Annotated[str | None, SECRET] = _secret()
    slack_app_token: Annotated[XappToken | None, SECRET] = _secret()
    slack_api_url: Url | None = None
    #: OAuth (many workspaces): all three set turn on /slack/install and /slack/oauth_redirect.
    slack_client_id: str | None = None
    slack_client_secret: Annotated[str | None, SECRET] = _secret()
    slack_state_secret: Annotated[str | None, SECRET] = _secret()
    twilio_account_sid: Annotated[str, AfterValidator(_twilio_sid)] | None = None
    twilio_auth_token: Annotated[str | None, SECRET] = _secret()
    twilio_api_url: Url | None = None
    twilio_timeout_seconds: Annotated[Seconds, Field(ge=0.1)] = 10.0
    #: Twilio's ValidityPeriod for texts, seconds (Twilio allows 1 to 36,000): a text still queued then is
    #: dropped by Twilio (error 30036) rather than arriving hours late.
    alert_validity_seconds: Annotated[Whole, Field(ge=1, le=36_000)] = 14_400
    #: Who answers STOP/START/HELP: "twilio" (Twilio's own opt-out handling; the app only records) or "app".
    twilio_opt_out_replies: Annotated[str, AfterValidator(_opt_out_replies)] = "twilio"
    lease_seconds: Annotated[
        Annotated[Seconds, Field(ge=0.5)] | None, Field(validation_alias="DELIVERY_LEASE_SECONDS")
    ] = None
    host: Annotated[str, AfterValidator(_host)] = "127.0.0.1"
    #: A TCP port: 1-65535 (RFC 793 gives it 16 bits; 0 asks the system for any port).
    port: Annotated[Whole, Field(ge=1, le=65535)] = 3000
    log_level: Annotated[str, AfterValidator(_log_level)] = "WARNING"
    #: Largest request body the web routes accept (bytes); larger ones get 413 before they are read whole.
    max_request_bytes: Annotated[Whole, Field(ge=1024)] = 1024 * 1024
    log_format: Annotated[str, AfterValidator(_log_format)] = "text"

    @property
    def oauth_enabled(self) -> bool:
        """True when SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_STATE_SECRET are all set (OAuth mode)."""
        return bool(self.slack_client_id and self.slack_client_secret and self.slack_state_secret)


def _fields() -> dict[str, FieldInfo]:
    """Settings' fields as pydantic sees them (types, limits, aliases, markers), in declaration order."""
    assert is_pydantic_dataclass(Settings)
    return Settings.__pydantic_fields__


class _EnvironmentBase(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", env_ignore_empty=True)


#: Settings' fields as a pydantic-settings model, so that its sources read each field's variable.
#: Constructed in code, Settings itself reads no environment: that is `load_settings`'s job.
_FIELD_DEFINITIONS: dict[str, Any] = {name: (info.annotation, info) for name, info in _fields().items()}
_Environment = create_model("_Environment", __base__=_EnvironmentBase, **_FIELD_DEFINITIONS)


def _variable(name: str) -> str:
    alias = _fields()[name].validation_alias
    assert isinstance(alias, str), name
    return alias


#: Field name -> its environment variable, in declaration order (the README's configuration table).
VARIABLES: dict[str, str] = {name: _variable(name) for name in _fields()}

#: Variables whose value may also be read from the file named by VARIABLE_FILE.
SECRET_VARIABLES: tuple[str, ...] = tuple(
    VARIABLES[name] for name, info in _fields().items() if SECRET in info.metadata
)

#: What each group requires: (field, where to find its value). Slack's signing secret is waived when
#: SLACK_APP_TOKEN is set (Socket Mode signs nothing over HTTP).
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    SLACK: (
        ("slack_bot_token", "the bot token, xoxb-..., from OAuth & Permissions"),
        ("slack_signing_secret", "Basic Information > Signing Secret"),
    ),
    TWILIO: (
        ("twilio_account_sid", "Twilio Console > Account Info"),
        ("twilio_auth_token", "Twilio Console > Account Info"),
    ),
}
REQUIRED[SLACK_HTTP] = REQUIRED[SLACK]
#: Together they turn on OAuth mode (SLACK_BOT_TOKEN is then not required).
OAUTH_FIELDS = ("slack_client_id", "slack_client_secret", "slack_state_secret")


def required_variables(groups: Iterable[str]) -> list[str]:
    """The variables `load_settings(require=groups)` insists on (HTTP mode), in declaration order."""
    fields = {field for group in groups for field, _ in REQUIRED[group]}
    return [variable for name, variable in VARIABLES.items() if name in fields]


class _Variables(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (the process's, a test's);
    blank values count as unset."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self._variables = {name: value for name, value in variables.items() if value.strip()}
        super().__init__(_Environment)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._variables


def _gather(environ: Mapping[str, str], env_file: Path | None, problems: list[str]) -> dict[str, str]:
    """The `.env` file's variables overlaid by the environment's, then NAME_FILE contents as NAME."""
    variables: dict[str, str] = {}
    if env_file is not None:
        dotenv = DotEnvSettingsSource(_Environment, env_file=env_file).env_vars
        variables.update((name, value) for name, value in dotenv.items() if value is not None)
    variables.update(environ)
    for name in SECRET_VARIABLES:
        path = variables.get(name + FILE_SUFFIX, "").strip()
        if not path:
            continue
        if variables.get(name, "").strip():
            problems.append(f"{name} and {name}{FILE_SUFFIX} are both set; set only one")
            continue
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            problems.append(f"{name}{FILE_SUFFIX} names {path}, which cannot be read ({reason})")
            continue
        if not value:
            problems.append(f"{name}{FILE_SUFFIX} names {path}, which is empty")
        variables[name] = value
    return variables


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _describe(error: ErrorDetails, variables: Mapping[str, str]) -> str:
    """One line for one pydantic error: the variable, what it must be, and the value unless secret."""
    where = str(error["loc"][0]) if error["loc"] else ""
    name = VARIABLES.get(where, where)
    ctx = error.get("ctx", {})
    kind = error["type"]
    if kind == "value_error":
        rule = str(ctx.get("error", error["msg"]))
    elif kind in ("int_parsing", "int_from_float", "int_type"):
        rule = "must be a whole number"
    elif kind in ("float_parsing", "float_type"):
        rule = "must be a number"
    elif kind == "finite_number":
        rule = "must be a finite number"
    elif kind == "greater_than_equal":
        rule = f"must be at least {_number(ctx['ge'])}"
    elif kind == "less_than_equal":
        rule = f"must be at most {_number(ctx['le'])}"
    else:
        rule = error["msg"][:1].lower() + error["msg"][1:]
    shown = "" if name in SECRET_VARIABLES else f", got {variables.get(name, error['input'])!r}"
    return f"{name} {rule}{shown}"


def load_settings(
    environ: Mapping[str, str] | None = None, require: Iterable[str] = (), *, env_file: Path | None = None
) -> Settings:
    """Build Settings from `environ` (default: the process environment plus `./.env`, the environment
    winning) and NAME_FILE files; raise SettingsError naming every bad or missing variable at once.

    `require` names groups (SLACK, SLACK_HTTP, TWILIO) whose variables must be set. `env_file` is read
    when given; with neither it nor `environ` given, `.env` in the working directory is read if present.
    """
    if environ is None:
        environ = os.environ
        env_file = DOTENV if env_file is None else env_file
    problems: list[str] = []
    variables = _gather(environ, env_file, problems)
    settings: Settings | None = None
    try:
        settings = Settings(**_Variables(variables)())
    except ValidationError as error:
        problems.extend(_describe(detail, variables) for detail in error.errors())

    def given(field: str) -> bool:
        return bool(variables.get(VARIABLES[field], "").strip())

    for group in dict.fromkeys(require):
        for field, where in REQUIRED[group]:
            waived = (field == "slack_signing_secret" and given("slack_app_token")) or (
                # In OAuth mode every workspace's bot token comes from its installation.
                field == "slack_bot_token" and all(map(given, OAUTH_FIELDS))
            )
            message = f"{VARIABLES[field]} is required ({where})"
            if not given(field) and not waived and message not in problems:
                problems.append(message)
    if problems or settings is None:
        raise SettingsError(problems)
    return settings
