"""`mass-alert retry ALERT_ID` and `mass-alert cancel ALERT_ID` as real processes: what they print, their
exit status, what they change, and the scheduled alert's entry in sandbox Slack.

Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from sandbox.slack import SandboxSlack
from services import alerts, db
from services.models import AlertDelivery, AlertState, Clinic, DeliveryStatus, MassAlert
from services.timeranges import TimeRange
from tests.blockkit import all_text
from tests.e2e import test_scheduled_restart
from tests.e2e.test_scheduled_restart import PHONES, entries, seed
from tests.e2e.test_send_cli import run_cli, send_args

slack = test_scheduled_restart.slack

#: How each client of the finished alert fared: reached, two failures that may pass, an invalid number.
OUTCOMES = {
    PHONES[0]: (DeliveryStatus.DELIVERED, None),
    PHONES[1]: (DeliveryStatus.FAILED, "30003"),  # handset off
    PHONES[2]: (DeliveryStatus.FAILED, "21211"),  # invalid number
    PHONES[3]: (DeliveryStatus.UNDELIVERED, "30008"),  # unknown carrier error
}


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused verb (exit status 1, nothing on stdout)."""
    assert (result.returncode, result.stdout) == (1, "")
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    return lines[0]


def finished_alert(db_url: str, team_id: str) -> int:
    """An alert of the seeded clinic, completed with OUTCOMES."""
    sessions = seed(db_url, team_id)
    now = datetime.now(UTC)
    with sessions() as session:
        clinic_id = session.scalars(select(Clinic.id)).one()
    alert_id, _ = alerts.create_alert(
        sessions,
        alerts.AlertRequest(clinic_id, "Dr. Ana Lee", TimeRange(now, now + timedelta(days=2)), "Closed."),
        now=now,
        default_pace=1.0,
        max_chars=320,
    )
    with sessions() as session, session.begin():
        for phone, (status, code) in OUTCOMES.items():
            session.execute(
                update(AlertDelivery)
                .where(AlertDelivery.alert_id == alert_id, AlertDelivery.phone_e164 == phone)
                .values(status=status, error_code=code, final_at=now)
            )
        session.execute(
            update(MassAlert)
            .where(MassAlert.id == alert_id)
            .values(state=AlertState.COMPLETED, completed_at=now, completion_notified_at=now)
        )
    return alert_id


def test_retry_queues_a_linked_alert_to_the_clients_worth_texting_again(
    db_url: str, slack: SandboxSlack
) -> None:
    original = finished_alert(db_url, slack.team_id)
    env = {**os.environ, "DATABASE_URL": db_url}
    done = run_cli(["retry", str(original)], env)
    assert done.returncode == 0, done.stderr
    sessions = db.make_session_factory(db.make_engine(db_url))
    with sessions() as session:
        retry = session.scalars(select(MassAlert).where(MassAlert.retry_of_alert_id == original)).one()
        texted = session.scalars(
            select(AlertDelivery.phone_e164).where(
                AlertDelivery.alert_id == retry.id, AlertDelivery.status == DeliveryStatus.PENDING
            )
        ).all()
    assert done.stdout == f"Mass text alert #{retry.id} queued: 2 client(s) not reached by #{original}.\n"
    assert sorted(texted) == [PHONES[1], PHONES[3]]  # never the reached client nor the invalid number
    assert retry.state == AlertState.QUEUED and retry.created_by_name == "command line"

    again = run_cli(["retry", str(original)], env)
    assert again.returncode == 0
    assert again.stdout == f"Mass text alert #{original} was already retried as #{retry.id}.\n"
    assert one_error_line(run_cli(["retry", "999"], env)) == "error: No mass alert #999."
    assert one_error_line(run_cli(["retry", str(retry.id)], env)) == (
        f"error: Mass alert #{retry.id} is still sending; retry it once it has finished."
    )


def test_cancel_of_a_scheduled_alert_edits_its_entry_and_refuses_what_is_over(
    db_url: str, slack: SandboxSlack
) -> None:
    finished = finished_alert(db_url, slack.team_id)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.url,
    }
    held = run_cli(send_args("Closed.", "--at", "2099-01-05T08:00"), env)
    assert held.returncode == 0, held.stderr
    (entry,) = entries(slack)
    alert_id = int(str(entry["text"]).split("#")[1].split(" ")[0])
    assert "🕘" in all_text(entry["blocks"])  # type: ignore[arg-type]

    cancelled = run_cli(["cancel", str(alert_id), "--as", "Dr. Ana Lee"], env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == f"Mass text alert #{alert_id} cancelled before it started; nobody is texted.\n"
    (edited,) = entries(slack)
    assert edited["ts"] == entry["ts"]
    status = next(b for b in edited["blocks"] if b["block_id"] == "activity_status")  # type: ignore[attr-defined]
    assert "Cancelled by Dr. Ana Lee* before it started · nobody was texted" in all_text([status])
    assert "accessory" not in status  # no Cancel button any more
    assert run_cli(["scheduled"], env).stdout == "No scheduled alerts.\n"

    again = one_error_line(run_cli(["cancel", str(alert_id)], env))
    assert again == f"error: mass text alert #{alert_id} is already cancelled; nothing to cancel."
    over = one_error_line(run_cli(["cancel", str(finished)], env))
    assert over == f"error: mass text alert #{finished} is already completed; nothing to cancel."
    assert one_error_line(run_cli(["cancel", "999"], env)) == "error: No mass alert #999."
    assert [m["ts"] for m in entries(slack)] == [entry["ts"]]  # nothing posted about the others
