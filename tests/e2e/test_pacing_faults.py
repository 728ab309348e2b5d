"""Real worker processes against the sandbox Twilio with latency and faults (issue 10).

Whatever happened before (answers slower than the pace, a timeout leaving a text in doubt, a message
held queued with its answer lost, a restart), two alert texts of one number never reach Twilio closer
than the pace, measured where Twilio records their arrival, and each client gets one text.
"""

from __future__ import annotations

import signal
from itertools import pairwise
from pathlib import Path

from sqlalchemy import select

from sandbox import polling
from sandbox.twilio import SandboxTwilio
from services.models import AlertDelivery
from services.sms import SendRequest, TwilioGateway
from tests.e2e.test_crash_recovery import PACE, SID, TOKEN, env_for, seed, wait_done, worker


def assert_paced_once(sandbox: SandboxTwilio, phones: list[str], earlier: int = 0) -> None:
    """One alert text per client (plus `earlier` texts sent before the alert), gaps at arrival >= pace."""
    created = [m.to for m in sandbox.messages]
    assert sorted(created) == sorted(phones + created[:earlier]), "a client got no text or more than one"
    for from_, times in sandbox.arrivals_by_sender().items():
        gaps = [b - a for a, b in pairwise(sorted(times))]
        assert not gaps or min(gaps) >= PACE, f"{from_}: two texts {min(gaps):.3f}s apart (pace {PACE}s)"


def run_to_completion(db_url: str, sandbox: SandboxTwilio, tmp_path: Path, **env: str) -> str:
    sessions_env = env_for(db_url, sandbox, tmp_path, **env)
    proc = worker(sessions_env)
    try:
        wait_done(_sessions(db_url), timeout=90)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    return out


def _sessions(db_url: str):  # type: ignore[no-untyped-def]
    from services import db

    return db.make_session_factory(db.make_engine(db_url))


def test_answers_slower_than_the_pace_do_not_bunch_texts(db_url: str, tmp_path: Path) -> None:
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False, latency=2 * PACE) as sandbox:
        _, _, phones = seed(db_url, clinics=2, clients=5)
        run_to_completion(db_url, sandbox, tmp_path, TWILIO_TIMEOUT_SECONDS="3", DELIVERY_LEASE_SECONDS="5")
        assert_paced_once(sandbox, phones)
        # The pace is kept from the request, not from Twilio's answer: five texts take about four paces.
        for times in sandbox.arrivals_by_sender().values():
            assert max(times) - min(times) < 4 * (PACE + 2 * PACE)


def test_timeouts_leave_texts_in_doubt_without_duplicates_or_bunching(db_url: str, tmp_path: Path) -> None:
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as sandbox:
        _, _, phones = seed(db_url, clinics=1, clients=6)
        sandbox.delay_response_for(2, 2.5)  # stored at Twilio, answered after our 1 s timeout
        run_to_completion(db_url, sandbox, tmp_path)
        assert_paced_once(sandbox, phones)


def test_held_queued_text_with_a_lost_answer_is_found_not_resent(db_url: str, tmp_path: Path) -> None:
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as sandbox:
        sessions, _, phones = seed(db_url, clinics=1, clients=3)
        # Earlier the same day the first client had a reminder from the same number (sent, dated today).
        gateway = TwilioGateway(SID, TOKEN, api_url=sandbox.url, timeout=5)
        gateway.send(SendRequest(phones[0], "Reminder: Rex's checkup is tomorrow.", "+13129990000", None))
        polling.wait_for(lambda: sandbox.messages[0].date_sent is not None, "the reminder to be sent", 10)
        # The alert text's create is stored but held queued (no date sent), and its answer is lost.
        sandbox.drop_response_for(1, hold_queued=True)
        proc = worker(env_for(db_url, sandbox, tmp_path))
        try:

            def first_settled() -> bool:
                with sessions() as session:
                    sid = session.scalar(select(AlertDelivery.twilio_sid).where(AlertDelivery.position == 0))
                return sid is not None

            polling.wait_for(first_settled, "the in-doubt text to be found at Twilio", 60, interval=0.2)
            sandbox.release_held()
            wait_done(sessions, timeout=90)
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
        to_first = [m for m in sandbox.messages if m.to == phones[0]]
        assert len(to_first) == 2, "the client must get exactly one new text besides the earlier reminder"
        assert_paced_once(sandbox, phones, earlier=1)


def test_a_restarted_worker_waits_for_the_pace_of_the_last_text(db_url: str, tmp_path: Path) -> None:
    with SandboxTwilio(account_sid=SID, auth_token=TOKEN, send_callbacks=False) as sandbox:
        sessions, _, phones = seed(db_url, clinics=2, clients=5)
        env = env_for(db_url, sandbox, tmp_path)
        first = worker(env)
        polling.wait_for(lambda: len(sandbox.messages) >= 3, "three texts", 60, interval=0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        second = worker(env)
        try:
            wait_done(sessions, timeout=90)
        finally:
            second.terminate()
            second.communicate(timeout=30)
        assert_paced_once(sandbox, phones)
