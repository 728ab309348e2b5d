"""`Dispatcher`: the front the scheduler and the CLI call; each public method is one scheduler job."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from services import scheduled
from services.clock import Clock
from services.delivery.finalize import Finalizer
from services.delivery.jobs import DispatchConfig, Job
from services.delivery.pacing import Claimer
from services.delivery.reconcile import Reconciler
from services.delivery.sending import Sending
from services.notify import Notifier, NullNotifier
from services.sms import SmsGateway

log = logging.getLogger(__name__)


class Dispatcher:
    """Claims, sends and settles texts; each public method is one job the scheduler runs.

    The work is done by the parts (pacing.Claimer, sending.Sending, reconcile.Reconciler,
    finalize.Finalizer); they read `config`, `gateway` and `notifier` from here at call time, so
    replacing them after construction takes effect.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        gateway: SmsGateway,
        clock: Clock,
        config: DispatchConfig,
        notifier: Notifier | None = None,
        *,
        executor: ThreadPoolExecutor | None = None,
        capacity: int = 16,
        crash_points: Mapping[str, int] | None = None,
    ) -> None:
        self.sessions = sessions
        self.gateway = gateway
        self.clock = clock
        self.config = config
        self.notifier: Notifier = notifier or NullNotifier()
        self.executor = executor
        self.capacity = capacity
        self._in_flight = 0
        self._lock = threading.Lock()
        #: Set when the process stops: texts not yet requested give up their turn (their lease brings
        #: them back, as after a crash) so a stop does not wait for a busy worker's backlog.
        self.stopping = threading.Event()
        #: Crash tests' fault injection: {"claimed"|"sent"|"stored"|"starting"|"started": n} kills the process
        #: the nth time there ("starting"/"started": a scheduled alert's claim before / after it commits).
        self.crash_points: dict[str, int] = dict(crash_points or {})
        self._claimer = Claimer(self)
        self._sending = Sending(self)
        self._reconciler = Reconciler(self)
        self._finalizer = Finalizer(self)

    def checkpoint(self, name: str) -> None:
        """Die here (SIGKILL, no clean-up) when a crash test asked for it."""
        if name not in self.crash_points:
            return
        with self._lock:
            self.crash_points[name] -= 1
            if self.crash_points[name] <= 0:
                log.warning("crash test: killing the process at %r", name)
                os.kill(os.getpid(), signal.SIGKILL)

    def claim(self, limit: int | None = None) -> list[Job]:
        """Claim every text whose slot is due within the lookahead; advance the senders' slots."""
        return self._claimer.claim(limit)

    def callback_url(self, job: Job) -> str | None:
        """Status callback URL naming the row and attempt (None: no public URL, so poll)."""
        return self._sending.callback_url(job)

    def execute(self, job: Job) -> None:
        """Wait for the job's slot, send it, and store what the provider said."""
        self._sending.execute(job)

    def start_scheduled(self) -> list[int]:
        """Start the scheduled alerts whose time has come (services.scheduled; each exactly once)."""
        return scheduled.start_due(
            self.sessions,
            self.clock.now(),
            self.notifier,
            max_chars=self.config.alert_max_chars,
            checkpoint=self.checkpoint,
        )

    def tick(self) -> int:
        """Claim what is due and send it (inline without an executor); the number claimed."""
        self.start_scheduled()
        if self.executor is None:
            jobs = self.claim()
            for job in jobs:
                self.execute(job)
            return len(jobs)
        with self._lock:
            free = self.capacity - self._in_flight
        jobs = self.claim(limit=min(free, self.config.max_claims_per_tick))
        for job in jobs:
            with self._lock:
                self._in_flight += 1
            self.executor.submit(self._run, job)
        return len(jobs)

    def _run(self, job: Job) -> None:
        try:
            self.execute(job)
        except Exception:
            log.exception("sending %s %s failed", job.kind, job.row_id)
        finally:
            with self._lock:
                self._in_flight -= 1

    def reconcile(self) -> int:
        """Settle texts whose outcome is unknown (lease expired, in doubt); poll without callbacks."""
        now = self.clock.now()
        settled = self._reconciler.reconcile(now)
        if not self.config.public_base_url:
            settled += self.poll(now)
        return settled

    def poll(self, now: datetime) -> int:
        """Without status callbacks: fetch each handed-over message until it is final."""
        return self._reconciler.poll(now)

    def finalize(self) -> int:
        """Complete alerts whose texts are all settled, post progress for running ones; the completions."""
        return self._finalizer.finalize(self.clock.now())
