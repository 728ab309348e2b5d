"""Prometheus metrics (prometheus-client, the reference client: exposition format, types and escaping).

Two kinds, so that several worker processes on PostgreSQL give one truth:
- `DatabaseCollector` computes the queue and alert figures from the database at scrape time (texts by
  status and Twilio error code, queue depth and next slot per sender, active alerts, dispatch lateness);
  whichever process is scraped reports the same numbers.
- per-process instruments for what only the process answering sees: webhook latency by route and the
  Slack / Twilio API errors it met (`count_api_error`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.clock import Clock
from services.models import AlertDelivery, AlertState, DeliveryStatus, MassAlert, Sender

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Seconds a text reached Twilio after its slot: the dispatcher's promptness (upper bucket bounds).
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: How far back the lateness histogram looks (texts requested in this window).
LATENESS_WINDOW = timedelta(hours=24)

WEBHOOK_SECONDS = Histogram(
    "mass_alert_webhook_seconds",
    "Time to answer a webhook (Slack events, Twilio status and inbound), by route.",
    ["route"],
)
API_ERRORS = Counter(
    "mass_alert_api_errors",
    "Errors answered by the Slack Web API or the Twilio REST API in this process, by service and code.",
    ["service", "code"],
)

_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.IN_DOUBT)
_ACTIVE = (AlertState.QUEUED, AlertState.SENDING)


def count_api_error(service: str, code: str | int | None) -> None:
    """Count one API error: service "slack" (Slack's `error` string) or "twilio" (Twilio's error code)."""
    API_ERRORS.labels(service=service, code=str(code or "unknown")).inc()


class DatabaseCollector(Collector):
    """The queue's figures read from the database on each scrape (same answer from every process)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        texts = GaugeMetricFamily(
            "mass_alert_texts",
            "Alert texts by status and Twilio error code.",
            labels=["status", "error_code"],
        )
        depth = GaugeMetricFamily(
            "mass_alert_queue_depth", "Alert texts waiting to be sent, by sender.", labels=["sender"]
        )
        next_slot = GaugeMetricFamily(
            "mass_alert_sender_next_slot_seconds",
            "Seconds until the sender's next alert slot (negative: already due).",
            labels=["sender"],
        )
        active = GaugeMetricFamily("mass_alert_active_alerts", "Alerts queued or sending.")
        lateness = HistogramMetricFamily(
            "mass_alert_dispatch_lateness_seconds",
            "Seconds between a text's slot and its request to Twilio (texts requested in the last 24 h).",
        )
        with self.sessions() as session:
            for status, code, count in session.execute(
                select(AlertDelivery.status, AlertDelivery.error_code, func.count()).group_by(
                    AlertDelivery.status, AlertDelivery.error_code
                )
            ):
                texts.add_metric([str(status), code or ""], count)
            waiting: dict[str, int] = {
                key: count
                for key, count in session.execute(
                    select(MassAlert.sender_key, func.count())
                    .join(AlertDelivery, AlertDelivery.alert_id == MassAlert.id)
                    .where(AlertDelivery.status.in_(_WAITING))
                    .group_by(MassAlert.sender_key)
                )
            }
            for key, next_at in session.execute(select(Sender.key, Sender.next_alert_at)):
                next_slot.add_metric([key], (next_at - now).total_seconds())
                waiting.setdefault(key, 0)
            for key, count in sorted(waiting.items()):
                depth.add_metric([key], count)
            active.add_metric(
                [], session.scalar(select(func.count()).where(MassAlert.state.in_(_ACTIVE))) or 0
            )
            gaps = [
                max(0.0, (requested - slot).total_seconds())
                for requested, slot in session.execute(
                    select(AlertDelivery.requested_at, AlertDelivery.slot_at).where(
                        AlertDelivery.requested_at >= now - LATENESS_WINDOW,
                        AlertDelivery.slot_at.is_not(None),
                    )
                )
                if requested is not None and slot is not None
            ]
        buckets = [(f"{bound:g}", sum(1 for gap in gaps if gap <= bound)) for bound in LATENESS_BUCKETS]
        lateness.add_metric([], [*buckets, ("+Inf", len(gaps))], sum(gaps))
        yield from (texts, depth, next_slot, active, lateness)


def render(database: CollectorRegistry) -> bytes:
    """The exposition text: this process's instruments (and the Python runtime's), then `database`'s
    (a registry holding a DatabaseCollector)."""
    return generate_latest(REGISTRY) + generate_latest(database)
