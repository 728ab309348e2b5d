"""The operator's verbs: `clinic show|update`, `user list|update|remove`; changes logged, clear refusals."""

from __future__ import annotations

import logging

import pytest

from bot.cli import main
from services import db
from services.logs import setup_logging


@pytest.fixture
def clinic(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """A migrated database with Happy Paws and two users; DATABASE_URL set."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("DEFAULT_PHONE_REGION", raising=False)
    db.upgrade(db_url)
    assert (
        main(
            [
                "clinic",
                "add",
                "--name",
                "Happy Paws",
                "--timezone",
                "America/Chicago",
                "--sender",
                "+13125550100",
                "--slack-team",
                "T0TEAM",
                "--slack-channel",
                "C0ALERTS",
            ]
        )
        == 0
    )
    for name, email, role, slack in (
        ("Dr. Ana Lee", "ana@happypaws.test", "admin", "U0ANA"),
        ("Sam Ortiz", "sam@happypaws.test", "staff", None),
    ):
        argv = ["user", "add", "--clinic", "Happy Paws", "--name", name, "--email", email, "--role", role]
        assert main(argv + (["--slack-user", slack] if slack else [])) == 0
    capsys.readouterr()
    return db_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clinic_show_lists_every_setting_and_the_users(
    clinic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "clinic", "show", "happy paws")
    assert code == 0
    assert "sender number:      +13125550100" in out
    assert "pace:               12 s (default)" in out
    assert "Slack channel:      C0ALERTS" in out
    assert "Dr. Ana Lee <ana@happypaws.test>  |  admin  |  Slack T0TEAM/U0ANA" in out
    assert "Sam Ortiz <sam@happypaws.test>  |  staff  |  not linked to Slack" in out


def test_clinic_update_changes_only_what_is_given_and_logs_it(
    clinic: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="services.clinics"):
        code, out, _ = run(
            capsys,
            "clinic",
            "update",
            "Happy Paws",
            "--pace",
            "6",
            "--messaging-service",
            "MG" + "c" * 32,
            "--sender",
            "",
            "--no-two-way-texting",
            "--contact-phone",
            "(312) 555-0199",
        )
    assert code == 0, out
    assert out.startswith("updated clinic 1 (Happy Paws): sms_from None, messaging_service_sid MGccc")
    fields = "sms_from, messaging_service_sid, alert_pace_seconds, two_way_texting, contact_phone"
    assert f"clinic 1 updated: {fields}" in caplog.text
    _, shown, _ = run(capsys, "clinic", "show", "1")
    assert "pace:               6 s" in shown and "two-way texting:    off" in shown
    assert "sender number:      -" in shown and "contact phone:      +13125550199" in shown
    assert "time zone:          America/Chicago" in shown  # untouched
    code, _, _ = run(capsys, "clinic", "update", "Happy Paws", "--pace", "default")
    assert code == 0
    assert "pace:               12 s (default)" in run(capsys, "clinic", "show", "1")[1]


def test_clinic_update_refuses_a_clinic_without_any_sender(
    clinic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "clinic", "update", "Happy Paws", "--sender", "")
    assert code == 1
    assert err.strip() == (
        "error: The clinic needs a sending number (+E.164) or a Twilio Messaging Service SID (MG...)."
    )
    assert "+13125550100" in run(capsys, "clinic", "show", "Happy Paws")[1]  # nothing was changed


def test_user_list_update_and_remove(
    clinic: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    code, out, _ = run(capsys, "user", "list")
    assert code == 0 and out.splitlines()[0] == "Happy Paws:" and len(out.splitlines()) == 3
    with caplog.at_level(logging.INFO, logger="services.clinics"):
        code, out, _ = run(
            capsys,
            "user",
            "update",
            "sam@happypaws.test",
            "--clinic",
            "Happy Paws",
            "--role",
            "admin",
            "--slack-user",
            "U0SAM",
        )
        assert code == 0
        assert "updated Sam Ortiz <sam@happypaws.test>: role, slack_user_id, slack_team_id" in out
        assert "admin  |  Slack T0TEAM/U0SAM" in out
        code, out, _ = run(
            capsys,
            "user",
            "update",
            "U0SAM",
            "--clinic",
            "1",
            "--email",
            "Sam@HappyPaws.test",
            "--slack-user",
            "",
        )
        assert code == 0 and "not linked to Slack" in out
        code, out, _ = run(capsys, "user", "remove", "ana@happypaws.test", "--clinic", "Happy Paws")
        assert (code, out) == (0, "removed Dr. Ana Lee <ana@happypaws.test> from Happy Paws\n")
    assert "user 2 of clinic 1 updated: role, slack_user_id, slack_team_id" in caplog.text
    assert "user 1 removed from clinic 1" in caplog.text
    _, out, _ = run(capsys, "user", "list", "--clinic", "Happy Paws")
    assert "Dr. Ana Lee" not in out and "Sam Ortiz <sam@happypaws.test>  |  admin  |  not linked" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["clinic", "show", "Nowhere"], "error: There is no clinic 'Nowhere'. Known clinics: 'Happy Paws'."),
        (["clinic", "update", "Nowhere", "--pace", "3"], "error: There is no clinic 'Nowhere'."),
        (
            ["user", "update", "kim@happypaws.test", "--clinic", "Happy Paws", "--role", "admin"],
            "error: Clinic 'Happy Paws' has no user 'kim@happypaws.test'. "
            "Its users: ana@happypaws.test, sam@happypaws.test.",
        ),
        (
            ["user", "remove", "kim@happypaws.test", "--clinic", "Happy Paws"],
            "has no user 'kim@happypaws.test'",
        ),
        (["user", "list", "--clinic", "Nowhere"], "error: There is no clinic 'Nowhere'."),
        (
            [
                "user",
                "update",
                "sam@happypaws.test",
                "--clinic",
                "Happy Paws",
                "--email",
                "ana@happypaws.test",
            ],
            "error: ana@happypaws.test is already a user of clinic 'Happy Paws'.",
        ),
        (["clinic", "update", "Happy Paws"], "error: Nothing to change"),
    ],
)
def test_unknown_clinics_and_users_are_one_clear_line(
    clinic: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_never_migrated_database_is_one_line_naming_the_upgrade(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    code, _, err = run(capsys, "user", "list")
    setup_logging("WARNING", "text")
    assert code == 1
    assert "`mass-alert db upgrade`" in err and len(err.strip().splitlines()) == 1
