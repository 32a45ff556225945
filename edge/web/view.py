"""What the operator screen shows, as JSON-ready data.

Every text the engine produces reaches the page as a message code with parameters
(:mod:`edge.web.messages`); reads are shown as people read them (GTIN, lot, serial,
verdict), never as raw bytes. Times are ISO 8601 in UTC; the page shows them in the
line's time zone.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from edge.alarms import AlarmSpan
from edge.config import LineConfig
from edge.engine import LineEngine
from edge.verdicts import Phase
from edge.web.messages import describe, fault_code
from edge.web.shift import Shift
from lineside.errors import LinesideError
from lineside.gs1.scan import parse_scan


@dataclass(frozen=True, slots=True)
class Links:
    """The agent's links the engine does not know (``None``: not known or not used)."""

    broker_connected: bool | None = None
    server_configured: bool = False


_T = TypeVar("_T")

#: Where the screen learns the agent's links from.
LinkProbe = Callable[[], Links]


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()


def read_view(at: datetime, text: str, verdict: str) -> dict[str, Any]:
    """One verify read as the operator reads it.

    >>> view = read_view(datetime(2026, 1, 1, tzinfo=UTC),
    ...                  "]d2010893456789012010L7\\x1d21ABC", "ok")
    >>> view["gtin"], view["lot"], view["serial"], view["verdict"]["code"]
    ('08934567890120', 'L7', 'ABC', 'ok')
    """
    gtin = lot = serial = None
    try:
        message = parse_scan(text).message
    except Exception:  # an unreadable read has no fields to show; its verdict says so
        message = None
    if message is not None:
        gtin, lot, serial = message.get("01"), message.get("10"), message.get("21")
    return {
        "at": _iso(at),
        "gtin": gtin,
        "lot": lot,
        "serial": serial,
        "verdict": describe(verdict).as_json(),
    }


def alarm_view(span: AlarmSpan, now: datetime) -> dict[str, Any]:
    end = span.ended or now
    return {
        "id": span.id,
        "code": span.code.value,
        "severity": span.severity.value,
        "message": describe(span.message, fallback=f"alarm_{span.code.value}").as_json(),
        "raised": _iso(span.raised),
        "ended": _iso(span.ended),
        "duration_s": round((end - span.raised).total_seconds()),
        "acknowledged_by": span.acknowledged_by,
    }


def _tile(name: str, state: str, code: str, **params: str) -> dict[str, Any]:
    return {"name": name, "state": state, "code": code, "params": params}


def device_tiles(engine: LineEngine, config: LineConfig, links: Links) -> list[dict[str, Any]]:
    """Printer, paper/ribbon, scanner, broker, server and outbox backlog tiles.

    ``state`` is ``ok``, ``warn``, ``fault`` or ``off`` (not used on this line).
    """
    machine = engine.machine
    fault = machine.printer_fault
    fault_kind = fault_code(fault) if fault is not None else None
    media = fault_kind in ("paper_out", "ribbon_out")
    tiles = [
        _tile("printer", "fault" if fault else "ok", "fault" if fault else "ready"),
        _tile("media", "fault" if media else "ok", fault_kind if media and fault_kind else "ok"),
        _tile(
            "scanner",
            "fault" if machine.scanner_offline is not None else "ok",
            "offline" if machine.scanner_offline is not None else "connected",
        ),
    ]
    broker = links.broker_connected
    tiles.append(
        _tile(
            "broker",
            "off" if broker is None else ("ok" if broker else "fault"),
            "unknown" if broker is None else ("connected" if broker else "unreachable"),
        )
    )
    server_ok = links.server_configured and broker is not False
    tiles.append(
        _tile(
            "server",
            "off" if not links.server_configured else ("ok" if server_ok else "warn"),
            "not_used" if not links.server_configured else ("ok" if server_ok else "via_outbox"),
        )
    )
    backlog = _journal_read(lambda: engine.journal.outbox.pending()[0], -1)
    if backlog < 0:
        tiles.append(_tile("outbox", "fault", "unknown"))
    else:
        state = "ok" if backlog < 1000 else "warn"
        tiles.append(_tile("outbox", state, "backlog", count=str(backlog)))
    return tiles


def _journal_read(read: Callable[[], _T], failed: _T) -> _T:
    """A read of the journal for the screen; ``failed`` when the journal cannot answer (the
    line has stopped, and its alarm says why)."""
    try:
        return read()
    except (LinesideError, sqlite3.Error):
        return failed


def _grade(engine: LineEngine) -> str | None:
    """The line's rolling print-quality grade (A-F), once a verify read was graded."""
    status = _journal_read(engine.status, None)
    return None if status is None else status.print_grade


def _order_view(engine: LineEngine, target: float) -> dict[str, Any] | None:
    order = engine.order
    if order is None:
        return None
    c = engine.counters
    remaining = max(order.quantity - c.commissioned, 0)
    rate = engine.rate_per_minute()
    eta = None
    if remaining and rate > 0 and engine.phase is Phase.RUNNING:
        eta = _iso(datetime.now(UTC) + timedelta(minutes=remaining / rate))
    nothing: dict[str, int] = {}
    reasons = _journal_read(lambda: engine.journal.serials.reject_reasons(order.id), nothing)
    by_code: dict[str, int] = {}
    for reason, n in reasons.items():
        code = describe(reason, fallback="other").code
        by_code[code] = by_code.get(code, 0) + n
    return {
        "id": order.id,
        "product": order.product.name_vi,
        "product_en": order.product.name_en,
        "gtin": order.product.gtin,
        "lot": order.lot,
        "quantity": order.quantity,
        "expiry": order.expiry_date.isoformat() if order.expiry_date else None,
        "remaining": remaining,
        "eta": eta,
        "target_per_minute": target,
        "rejects_by_reason": sorted(by_code.items(), key=lambda kv: -kv[1]),
    }


def snapshot(
    engine: LineEngine,
    config: LineConfig,
    shift: Shift,
    links: Links,
    *,
    reject_bin: int,
) -> dict[str, Any]:
    """Everything the screen shows, now."""
    c = engine.counters
    clock = time.monotonic()
    shift.observe(
        running=engine.phase is Phase.RUNNING, good=c.commissioned, rejected=c.rejected, now=clock
    )
    oee = shift.oee(now=clock)
    now = datetime.now(UTC)
    book = engine.alarms
    return {
        "line": {
            "id": config.line.line_id,
            "site": config.line.site,
            "name": config.line.name or config.line.line_id,
            "timezone": config.web.timezone,
        },
        "now": _iso(now),
        "phase": engine.phase.value,
        "pause_reason": engine.pause_reason,
        "pause": describe(engine.pause_reason).as_json() if engine.pause_reason else None,
        "work_order": _order_view(engine, config.web.target_per_minute),
        "counters": {
            "printed": c.printed,
            "verified": c.commissioned,
            "rejected": c.rejected,
            "voided": c.voided,
            "cases": c.cases,
            "pallets": c.pallets,
        },
        "reject_bin": reject_bin,
        "in_flight": engine.in_flight,
        "rate_per_minute": engine.rate_per_minute(),
        "target_per_minute": config.web.target_per_minute,
        "shift": {
            "operator": shift.operator,
            "since": _iso(shift.started_at),
            "good": shift.good,
            "rejected": shift.rejected,
            "availability": oee.availability,
            "performance": oee.performance,
            "quality": oee.quality,
            "oee": oee.oee,
        },
        "devices": device_tiles(engine, config, links),
        "print_grade": _grade(engine),
        "print_quality": engine.quality.snapshot(),
        "last_reads": [read_view(r.at, r.text, r.verdict) for r in list(engine.last_reads)[:8]],
        "alarms": [alarm_view(a, now) for a in book.active()],
        "alarm_history": [alarm_view(a, now) for a in book.history()[:20]],
    }
