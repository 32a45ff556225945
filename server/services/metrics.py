"""Request counters exposed in the Prometheus text format at ``/metrics``.

>>> counters = RequestCounters()
>>> counters.record("GET", "/healthz", 200)
>>> 'lineside_http_requests_total{method="GET",route="/healthz",status="200"} 1' in (
...     counters.render())
True
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import ConsumerScan, DeadLetter, Event, Line, Product


def _label(value: str) -> str:
    # Prometheus label values escape backslash, double quote and newline.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class RequestCounters:
    """Counts requests per method, route template and status code (thread-safe)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

    def record(self, method: str, route: str, status: int) -> None:
        """Count one request; ``route`` is the template (``/lines/{line_id}``), not the path."""
        with self._lock:
            self._counts[(method, route, status)] += 1

    def render(self) -> str:
        """The counters as Prometheus text lines."""
        with self._lock:
            items = sorted(self._counts.items())
        lines = [
            "# HELP lineside_http_requests_total HTTP requests served.",
            "# TYPE lineside_http_requests_total counter",
        ]
        lines.extend(
            f'lineside_http_requests_total{{method="{_label(method)}",'
            f'route="{_label(route)}",status="{status}"}} {count}'
            for (method, route, status), count in items
        )
        return "\n".join(lines) + "\n"


def render_gauges(gauges: Iterable[tuple[str, str, float]]) -> str:
    """Gauges given as ``(name, help, value)`` in Prometheus text.

    >>> render_gauges([("lineside_lines", "Lines.", 2)])
    '# HELP lineside_lines Lines.\\n# TYPE lineside_lines gauge\\nlineside_lines 2\\n'
    """
    lines: list[str] = []
    for name, help_text, value in gauges:
        shown = int(value) if float(value).is_integer() else value
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {shown}"]
    return "\n".join(lines) + "\n" if lines else ""


def store_gauges(session: Session) -> list[tuple[str, str, float]]:
    """A few store sizes as ``(name, help, value)`` gauges (no personal data)."""

    def count(model: type[Event | Line | Product | DeadLetter | ConsumerScan]) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    return [
        ("lineside_events", "Events stored.", count(Event)),
        ("lineside_lines", "Lines registered.", count(Line)),
        ("lineside_products", "Products registered.", count(Product)),
        ("lineside_dead_letters", "MQTT messages that could not be stored.", count(DeadLetter)),
        ("lineside_consumer_scans", "Digital Link resolutions recorded.", count(ConsumerScan)),
    ]
