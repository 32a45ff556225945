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
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import ConsumerScan, DeadLetter, Event, Line, Product
from server.db.replica import ReadReplica

__all__ = ["CONTENT_TYPE", "ReplicaGauges", "ServerMetrics", "StoreSizes"]

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


class ReplicaGauges:
    """Whether the read replica serves, how far behind it is, and where reads went."""

    def __init__(self, replica: ReadReplica) -> None:
        self._replica = replica

    def describe(self) -> Iterator[Metric]:
        """The metrics' names, without a database round trip."""
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._replica)

    @staticmethod
    def _families(replica: ReadReplica | None) -> Iterator[Metric]:
        serving = GaugeMetricFamily(
            "lineside_read_replica_serving", "1 while trace and resolver reads go to the replica."
        )
        lag = GaugeMetricFamily(
            "lineside_read_replica_lag_seconds", "How far behind the replica was at its check."
        )
        reads = CounterMetricFamily(
            "lineside_read_sessions",
            "Read sessions of trace and resolver requests, by where they were served.",
            labels=("target",),
        )
        if replica is not None:
            state = replica.state()
            serving.add_metric([], 1 if state.usable else 0)
            if state.lag_seconds is not None:
                lag.add_metric([], state.lag_seconds)
            reads.add_metric(["replica"], replica.served)
            reads.add_metric(["primary"], replica.refused)
        yield serving
        yield lag
        yield reads


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

    def watch_replica(self, replica: ReadReplica) -> None:
        """Add the read replica's state and read counts to the metrics."""
        self.registry.register(ReplicaGauges(replica))

    def record(self, method: str, route: str, status: int) -> None:
        """Count one request; ``route`` is the template (``/lines/{line_id}``), not the path."""
        self._requests.labels(method=method, route=route, status=str(status)).inc()

    def render(self) -> str:
        """Every metric in the Prometheus text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry).decode("utf-8")
