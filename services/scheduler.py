"""Runs the dispatcher's jobs on APScheduler 3.11: fixed ids, in-memory store, recreated at start-up."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.pool import QueuePool

from services.delivery import Dispatcher
from services.delivery.health import DatabaseGuard
from services.delivery.lock import acquire_dispatcher, heartbeat, instance_name, release_dispatcher

log = logging.getLogger(__name__)

#: The interpreter's thread switch interval in a process that sends (seconds; CPython's default is
#: 0.005). A sending thread that wakes at its slot waits for the GIL while another thread runs Python
#: (a claim pass, the finalizer's scan); at 1 ms it gets it sooner, which is what bounds a text's
#: lateness on a busy worker.
SWITCH_INTERVAL_SECONDS = 0.001

DISPATCH_JOB = "dispatch-tick"
RECONCILE_JOB = "in-doubt-reconciler"
FINALIZE_JOB = "finalizer"
HEARTBEAT_JOB = "dispatcher-heartbeat"


class DeliveryWorker:
    """The dispatcher running in the background of this process (serve, worker, send --wait)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        interval: float = 0.05,
        concurrency: int = 16,
        reconcile_every: float = 2.0,
        finalize_every: float = 1.0,
    ) -> None:
        self.dispatcher = dispatcher
        self.interval = interval
        self.reconcile_every = reconcile_every
        self.finalize_every = finalize_every
        self.holder = instance_name()
        #: When this process's dispatcher last beat (start, then every 2 s); read by /readyz.
        self.last_beat: datetime | None = None
        #: Shared by every job of this worker: when one finds the database gone, all back off.
        self.guard = DatabaseGuard(log)
        self.sender_pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sms-send")
        dispatcher.executor = self.sender_pool
        dispatcher.capacity = concurrency
        self.scheduler = BackgroundScheduler(
            executors={"default": JobExecutor(8)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC",
        )

    def start(self) -> None:
        """Take the dispatcher lock (SQLite: only one) and schedule the fixed jobs."""
        clock = self.dispatcher.clock
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))
        acquire_dispatcher(self.dispatcher.sessions, self.holder, clock.now())
        self.last_beat = clock.now()
        self._open_connections()
        jobs = (
            (DISPATCH_JOB, self._safe(self.dispatcher.tick), self.interval),
            (RECONCILE_JOB, self._safe(self.dispatcher.reconcile), self.reconcile_every),
            (FINALIZE_JOB, self._safe(self.dispatcher.finalize), self.finalize_every),
            (HEARTBEAT_JOB, self._safe(self._heartbeat), 2.0),
        )
        for job_id, func, seconds in jobs:
            self.scheduler.add_job(func, "interval", seconds=seconds, id=job_id, replace_existing=True)
        self.scheduler.start()
        log.info("dispatcher %s started (tick every %.3f s)", self.holder, self.interval)

    def _open_connections(self) -> None:
        """Open the pool's connections now, so the first texts after a start do not wait for them."""
        pool = self.dispatcher.sessions.kw["bind"].pool
        size = pool.size() if isinstance(pool, QueuePool) else 0
        opened = [pool.connect() for _ in range(min(size, self.dispatcher.capacity))]
        for connection in opened:
            connection.close()

    def add_job(self, job_id: str, func: Callable[[], object], seconds: float) -> None:
        """Run `func` every `seconds` beside the dispatcher's own jobs (fixed id, replaced if present)."""
        self.scheduler.add_job(
            self._safe(func), "interval", seconds=seconds, id=job_id, replace_existing=True
        )

    def _heartbeat(self) -> None:
        now = self.dispatcher.clock.now()
        heartbeat(self.dispatcher.sessions, self.holder, now)
        self.last_beat = now

    def _safe(self, func: Callable[[], object]) -> Callable[[], None]:
        """`func` as a job that never raises into the scheduler: backs off while the database is away
        (one log line per change, see services.delivery.health), logs any other failure."""
        name = getattr(func, "__name__", "job")

        def run() -> None:
            self.guard.run(func, name)

        run.__name__ = name
        return run

    def stop(self) -> None:
        """Stop scheduling, let requests already made finish, give the lock up.

        Texts still waiting for their turn give it up (their lease brings them back, as after a crash),
        so a stop takes at most about one request's time even when the worker is behind.
        """
        self.dispatcher.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.sender_pool.shutdown(wait=True)
        release_dispatcher(self.dispatcher.sessions, self.holder)
