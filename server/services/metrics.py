"""The aggregator's metrics, exposed in the Prometheus text format at ``/metrics``.

Each app has a registry of its own (no process-wide state, so several apps can live in
one process): a request counter per method, route template and status, and a few store
sizes read from the database at each scrape (no personal data). ``prometheus_client``
writes the text format.

>>> metrics = ServerMetrics()
>>> metrics.record("GET", "/healthz", 200)
>>> 'lineside_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in (
...     metrics.render())
True
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import ConsumerScan, DeadLetter, Event, Line, Product

__all__ = ["CONTENT_TYPE", "ServerMetrics", "StoreSizes"]

#: The media type of :meth:`ServerMetrics.render`'s text.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

_STORE_SIZES: tuple[
    tuple[str, str, type[Event | Line | Product | DeadLetter | ConsumerScan]], ...
] = (
    ("lineside_events", "Events stored.", Event),
    ("lineside_lines", "Lines registered.", Line),
    ("lineside_products", "Products registered.", Product),
    ("lineside_dead_letters", "MQTT messages that could not be stored.", DeadLetter),
    ("lineside_consumer_scans", "Consumer page views recorded.", ConsumerScan),
)


class StoreSizes:
    """Gauges of how many rows a few tables hold, counted when Prometheus scrapes."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def describe(self) -> Iterator[Metric]:
        """The gauges' names, without a database round trip."""
        for name, help_text, _ in _STORE_SIZES:
            yield GaugeMetricFamily(name, help_text)

    def collect(self) -> Iterator[Metric]:
        with self._session_factory() as session:
            for name, help_text, model in _STORE_SIZES:
                count = session.scalar(select(func.count()).select_from(model)) or 0
                yield GaugeMetricFamily(name, help_text, value=int(count))


class ServerMetrics:
    """The metrics of one app: request counts and, given a session factory, store sizes."""

    def __init__(self, session_factory: sessionmaker[Session] | None = None) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "lineside_http_requests",
            "HTTP requests served.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        if session_factory is not None:
            self.registry.register(StoreSizes(session_factory))

    def record(self, method: str, route: str, status: int) -> None:
        """Count one request; ``route`` is the template (``/lines/{line_id}``), not the path."""
        self._requests.labels(method=method, route=route, status=str(status)).inc()

    def render(self) -> str:
        """Every metric in the Prometheus text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry).decode("utf-8")
