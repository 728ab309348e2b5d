"""Settings: every variable validated in one pass, one message naming every problem, secrets from
NAME_FILE, a `.env` file honoured, and the README's configuration table as the one list."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.settings import (
    DEFAULT_DATABASE_URL,
    SECRET_VARIABLES,
    SLACK,
    SLACK_HTTP,
    TWILIO,
    VARIABLES,
    Settings,
    SettingsError,
    load_settings,
    required_variables,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD_SID = "AC" + "0123456789abcdef" * 2


def problems_of(environ: dict[str, str], *require: str) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ, require=require)
    return raised.value.problems


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = load_settings({})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 3000, "WARNING")
    assert settings.alert_pace_seconds == 12.0
    assert settings.reports_dir == Path("reports")
    assert settings.slack_bot_token is None and settings.lease_seconds is None


def test_values_are_read_trimmed_and_typed() -> None:
    settings = load_settings(
        {
            "PORT": " 8080 ",
            "HOST": "0.0.0.0",
            "LOG_LEVEL": "info",
            "DEFAULT_PHONE_REGION": "ca",
            "DELIVERY_LEASE_SECONDS": "3.5",
            "PUBLIC_BASE_URL": "https://alerts.example.org/",
            "SLACK_APP_TOKEN": "",
            "REPORTS_DIR": "/var/lib/mass-alert/reports",
        }
    )
    assert settings.port == 8080 and settings.host == "0.0.0.0"
    assert settings.log_level == "INFO" and settings.default_region == "CA"
    assert settings.lease_seconds == 3.5
    assert settings.public_base_url == "https://alerts.example.org"
    assert settings.slack_app_token is None
    assert settings.reports_dir == Path("/var/lib/mass-alert/reports")


def test_the_issues_examples_are_all_named_in_one_message() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(
            {"LOG_LEVEL": "LOUD", "HOST": "999.1.1.1", "PORT": "70000", "ALERT_PACE_SECONDS": "inf"}
        )
    message = str(raised.value)
    assert message.startswith("Configuration problem(s) in the environment:")
    assert raised.value.problems == [
        "ALERT_PACE_SECONDS must be a finite number, got 'inf'",
        "HOST must be an IP address (such as 0.0.0.0 or ::) or a host name such as localhost, "
        "got '999.1.1.1'",
        "PORT must be at most 65535, got '70000'",
        "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'",
    ]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LOG_LEVEL", "verbose", "LOG_LEVEL must be one of"),
        ("HOST", "256.0.0.1", "HOST must be an IP address"),
        ("HOST", "-bad-.example", "HOST must be an IP address"),
        ("HOST", "a" * 64 + ".example", "HOST must be an IP address"),
        ("PORT", "0", "PORT must be at least 1"),
        ("PORT", "-1", "PORT must be at least 1"),
        ("PORT", "80.5", "PORT must be a whole number"),
        ("PORT", "http", "PORT must be a whole number"),
        ("ALERT_PACE_SECONDS", "nan", "ALERT_PACE_SECONDS must be a finite number"),
        ("ALERT_PACE_SECONDS", "1e999", "ALERT_PACE_SECONDS must be a finite number"),
        ("ALERT_PACE_SECONDS", "-1", "ALERT_PACE_SECONDS must be at least 0"),
        ("ALERT_PACE_SECONDS", "soon", "ALERT_PACE_SECONDS must be a number"),
        ("SENDER_MAX_PER_SECOND", "infinity", "SENDER_MAX_PER_SECOND must be a finite number"),
        ("SENDER_MAX_PER_SECOND", "0", "SENDER_MAX_PER_SECOND must be at least 0.01"),
        ("COMPLETION_GRACE_SECONDS", "-inf", "COMPLETION_GRACE_SECONDS must be a finite number"),
        ("DISPATCH_INTERVAL_SECONDS", "0.001", "DISPATCH_INTERVAL_SECONDS must be at least 0.005"),
        ("TWILIO_TIMEOUT_SECONDS", "inf", "TWILIO_TIMEOUT_SECONDS must be a finite number"),
        ("TWILIO_TIMEOUT_SECONDS", "0", "TWILIO_TIMEOUT_SECONDS must be at least 0.1"),
        ("DELIVERY_LEASE_SECONDS", "nan", "DELIVERY_LEASE_SECONDS must be a finite number"),
        ("ALERT_MAX_CHARS", "0", "ALERT_MAX_CHARS must be at least 1"),
        ("ALERT_MAX_CHARS", "1601", "ALERT_MAX_CHARS must be at most 1600"),
        ("SEND_CONCURRENCY", "many", "SEND_CONCURRENCY must be a whole number"),
        ("PUBLIC_BASE_URL", "alerts.example.org", "PUBLIC_BASE_URL must be an http(s) URL"),
        ("PUBLIC_BASE_URL", "ftp://alerts.example.org", "PUBLIC_BASE_URL must be an http(s) URL"),
        ("SLACK_API_URL", "https://", "SLACK_API_URL must be an http(s) URL"),
        ("TWILIO_API_URL", "http://127.0.0.1:99999", "TWILIO_API_URL must be an http(s) URL with a port"),
        ("DATABASE_URL", "mysql://user:pw@db/app", "DATABASE_URL must be a sqlite:/// or postgresql"),
        ("DEFAULT_PHONE_REGION", "XX", "DEFAULT_PHONE_REGION must be a two-letter region"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "SLACK_BOT_TOKEN must be a bot token starting with xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-1", "SLACK_APP_TOKEN must be an app-level token starting with xapp-"),
        ("TWILIO_ACCOUNT_SID", "AC123", "TWILIO_ACCOUNT_SID must look like AC followed by 32 hex"),
    ],
)
def test_each_bad_value_is_one_line_naming_its_variable(name: str, value: str, expected: str) -> None:
    problems = problems_of({name: value})
    assert len(problems) == 1
    assert problems[0].startswith(expected)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "::1", "127.0.0.1", "localhost", "web", "alerts.example.org"]
)
def test_addresses_and_host_names_are_accepted(host: str) -> None:
    assert load_settings({"HOST": host}).host == host


@pytest.mark.parametrize("port", ["1", "65535"])
def test_the_ends_of_the_port_range_are_accepted(port: str) -> None:
    assert load_settings({"PORT": port}).port == int(port)


def test_secret_values_are_never_echoed() -> None:
    secret_url = "mysql://admin:hunter2@db/app"
    problems = problems_of(
        {"DATABASE_URL": secret_url, "SLACK_BOT_TOKEN": "hunter2", "SLACK_APP_TOKEN": "hunter2"}
    )
    assert len(problems) == 3
    assert not any("hunter2" in problem for problem in problems)
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-hunter2", "TWILIO_AUTH_TOKEN": "hunter2"})
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)


def test_required_groups_are_reported_with_the_bad_values() -> None:
    problems = problems_of({"PORT": "70000"}, SLACK, TWILIO)
    assert problems[0].startswith("PORT must be at most 65535")
    for name in required_variables([SLACK, TWILIO]):
        assert any(problem.startswith(f"{name} is required") for problem in problems), name


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"},
        require=(SLACK, SLACK_HTTP),
    )
    assert settings.slack_signing_secret is None


def test_oauth_mode_needs_no_bot_token_and_needs_all_three_variables() -> None:
    oauth = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "cs", "SLACK_STATE_SECRET": "ss"}
    settings = load_settings({**oauth, "SLACK_SIGNING_SECRET": "s"}, require=(SLACK, SLACK_HTTP))
    assert settings.oauth_enabled and settings.slack_bot_token is None
    partial = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "cs", "SLACK_SIGNING_SECRET": "s"}
    with pytest.raises(SettingsError) as raised:
        load_settings(partial, require=(SLACK,))
    assert (
        "SLACK_BOT_TOKEN is required (the bot token, xoxb-..., from OAuth & Permissions)"
        in raised.value.problems
    )


def test_secrets_are_read_from_name_file_variables(tmp_path: Path) -> None:
    files = {
        "DATABASE_URL": "postgresql+psycopg://mass_alert:pw@db:5432/mass_alert",
        "SLACK_BOT_TOKEN": "xoxb-from-a-file",
        "SLACK_SIGNING_SECRET": "signing-from-a-file",
        "SLACK_APP_TOKEN": "xapp-from-a-file",
        "TWILIO_AUTH_TOKEN": "twilio-from-a-file",
        "SLACK_CLIENT_SECRET": "client-secret-from-a-file",
        "SLACK_STATE_SECRET": "state-secret-from-a-file",
    }
    assert set(files) == set(SECRET_VARIABLES)
    environ = {"TWILIO_ACCOUNT_SID": GOOD_SID}
    for name, value in files.items():
        path = tmp_path / name.lower()
        path.write_text(value + "\n", encoding="utf-8")  # editors and `echo` end files with a newline
        environ[f"{name}_FILE"] = str(path)
    settings = load_settings(environ, require=(SLACK, TWILIO))
    assert settings.database_url == files["DATABASE_URL"]
    assert settings.slack_bot_token == files["SLACK_BOT_TOKEN"]
    assert settings.slack_signing_secret == files["SLACK_SIGNING_SECRET"]
    assert settings.slack_app_token == files["SLACK_APP_TOKEN"]
    assert settings.twilio_auth_token == files["TWILIO_AUTH_TOKEN"]
    assert settings.slack_client_secret == files["SLACK_CLIENT_SECRET"]
    assert settings.slack_state_secret == files["SLACK_STATE_SECRET"]


def test_secret_files_are_validated_like_the_variable(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("xoxp-a-user-token", encoding="utf-8")
    problems = problems_of({"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")})
    assert problems == ["SLACK_BOT_TOKEN must be a bot token starting with xoxb-"]


def test_secret_file_problems_join_the_one_message(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    problems = problems_of(
        {
            "SLACK_BOT_TOKEN_FILE": str(tmp_path / "missing"),
            "TWILIO_AUTH_TOKEN_FILE": str(tmp_path / "empty"),
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_SIGNING_SECRET_FILE": str(tmp_path / "empty"),
            "PORT": "0",
        }
    )
    assert problems == [
        f"SLACK_BOT_TOKEN_FILE names {tmp_path / 'missing'}, which cannot be read "
        "(No such file or directory)",
        "SLACK_SIGNING_SECRET and SLACK_SIGNING_SECRET_FILE are both set; set only one",
        f"TWILIO_AUTH_TOKEN_FILE names {tmp_path / 'empty'}, which is empty",
        "PORT must be at least 1, got '0'",
    ]


def test_a_dotenv_file_is_honoured_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# written by a deployer\nPORT=4000\nLOG_LEVEL=debug\nCOMPOSE_PROJECT_NAME=ignored\n"
        'PUBLIC_BASE_URL="https://alerts.example.org"\n',
        encoding="utf-8",
    )
    settings = load_settings({"LOG_LEVEL": "ERROR"}, env_file=dotenv)
    assert settings.port == 4000
    assert settings.public_base_url == "https://alerts.example.org"
    assert settings.log_level == "ERROR"


def test_a_bad_value_in_the_dotenv_file_is_named_like_any_other(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=70000\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="PORT must be at most 65535"):
        load_settings({}, env_file=dotenv)


def test_settings_built_in_code_read_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "4000")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-from-the-shell")
    settings = Settings(database_url="sqlite:///x.db")
    assert settings.port == 3000 and settings.slack_app_token is None


def test_settings_are_immutable() -> None:
    settings = load_settings({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 4000  # type: ignore[misc]  # the assignment mypy refuses is the one under test


def readme_configuration_table() -> dict[str, str]:
    """Variable name -> its table row, from README's "## Configuration" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            for name in re.findall(r"`([A-Z_]+)`", first_cell):
                rows[name] = line
    return rows


def test_the_readme_table_lists_every_variable_and_nothing_else() -> None:
    assert set(readme_configuration_table()) == set(VARIABLES.values())


def test_the_readme_table_says_which_variables_can_come_from_a_file() -> None:
    rows = readme_configuration_table()
    for name in VARIABLES.values():
        assert (f"`{name}_FILE`" in rows[name]) == (name in SECRET_VARIABLES), name


def test_replace_keeps_the_other_values_and_validates_the_new_one() -> None:
    settings = load_settings({"PORT": "4000"})
    changed = dataclasses.replace(settings, public_base_url="http://127.0.0.1:4000/")
    assert changed.port == 4000 and changed.public_base_url == "http://127.0.0.1:4000"
    with pytest.raises(ValidationError):
        dataclasses.replace(settings, port=70000)
