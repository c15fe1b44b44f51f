"""Prometheus metrics: requests and latencies (middleware), and gauges read at scrape time.

Each app has its own registry, so several apps in one process (tests) never collide.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from smsledger.bootstrap import Services

log = logging.getLogger(__name__)

# ``*_created`` series double the output and nobody graphs them.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Metrics:
    def __init__(self, services: Services) -> None:
        # Only a digest of the metrics token is kept here, compared in constant time
        # (equal-length digests, whatever the length of what a caller sends).
        secret = services.settings.metrics_token
        self._token_digest = None if secret is None else _digest(secret.get_secret_value())
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "smsledger_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "smsledger_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(services))
        self.registry.register(_WebhookCollector(services))

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is the metrics token (``SMSLEDGER_METRICS_TOKEN``)."""
        expected = self._token_digest
        return expected is not None and hmac.compare_digest(_digest(token), expected)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class _StateCollector(Collector):
    """Projection positions and lag, and messages by status, read when scraped."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        position = GaugeMetricFamily(
            "smsledger_projection_position", "Last log position applied.", labels=["projection"]
        )
        lag = GaugeMetricFamily(
            "smsledger_projection_lag", "Events behind the head of the log.", labels=["projection"]
        )
        failed = GaugeMetricFamily(
            "smsledger_projection_failed_events",
            "Events a projection could not apply and skipped (0 when healthy; "
            "`smsledger project --rebuild NAME` after the fix clears them).",
            labels=["projection"],
        )
        healthy = GaugeMetricFamily(
            "smsledger_projection_healthy",
            "1 while a projection has skipped no event, else 0.",
            labels=["projection"],
        )
        head = GaugeMetricFamily("smsledger_log_head", "The last position in the event log.")
        try:
            health = self.services.runner.health(limit=0)
            head.add_metric([], self.services.runner.head())
        except Exception:
            log.warning("metrics: cannot read projection progress", exc_info=True)
            health = []
        for h in health:
            position.add_metric([h.name], h.position)
            lag.add_metric([h.name], h.lag)
            failed.add_metric([h.name], h.failed)
            healthy.add_metric([h.name], 1 if h.healthy else 0)
        yield head
        yield position
        yield lag
        yield failed
        yield healthy
        by_status = GaugeMetricFamily(
            "smsledger_messages", "Messages by current status code.", labels=["status", "name"]
        )
        counts = self._status_counts()
        for code, (name, n) in sorted(counts.items()):
            by_status.add_metric([str(code), name], n)
        yield by_status

    def _status_counts(self) -> dict[int, tuple[str, int]]:
        try:
            from smsledger.domain.status import STATUS_CODES

            counts = self.services.queries.status_counts()
            return {
                code: (STATUS_CODES[code].name if code in STATUS_CODES else "?", n)
                for code, n in counts.items()
            }
        except Exception:
            log.warning("metrics: cannot count messages by status", exc_info=True)
            return {}


class _WebhookCollector(Collector):
    """Status callbacks, read from the outbox when scraped (so every process that
    delivers is counted): callbacks by state, attempts and failed attempts, and the age
    of the oldest callback still waiting."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        reads = self.services.webhook_reads
        if reads is None:
            return
        try:
            counts = reads.counts(self.services.clock())
        except Exception:
            log.warning("metrics: cannot read the webhook outbox", exc_info=True)
            return
        by_state = GaugeMetricFamily(
            "smsledger_webhook_callbacks", "Status callbacks by state.", labels=["state"]
        )
        for state in ("pending", "done", "failed", "gone", "skipped"):
            by_state.add_metric([state], counts.get(f"state:{state}", 0))
        yield by_state
        yield CounterMetricFamily(
            "smsledger_webhook_attempts", "Callback attempts made.", value=counts["attempts"]
        )
        yield CounterMetricFamily(
            "smsledger_webhook_failures",
            "Callback attempts without a 2xx (retried, gone or given up).",
            value=counts["failures"],
        )
        yield GaugeMetricFamily(
            "smsledger_webhook_oldest_pending_seconds",
            "Age of the oldest status change not yet delivered (0: none waits).",
            value=counts["oldest_pending_seconds"],
        )
