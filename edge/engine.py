"""The line engine: allocate → print → verify → commission or reject → cases → reconcile.

One :class:`LineEngine` runs one line, on one asyncio loop. Devices are reached through
small protocols (:class:`UnitPrinter`, :class:`CasePrinter`, :class:`edge.reject.RejectOutput`)
and scanner reads are pushed in with :meth:`LineEngine.on_read`, so the engine runs the same
against real devices, the simulators or in-memory fakes.

Pipelining: up to ``timing.max_in_flight`` units are between the printer and the verify
scanner at once. A read is matched to the unit it names **by value** (its serial), never by
order; a read that names no unit in flight (garbage, a foreign or duplicate code, the wrong
product) rejects the oldest printed unit still waiting — the one physically in front of the
scanner — with that reason. A unit whose read does not arrive within
``timing.verify_window_ms`` of being printed is rejected "no read".

Decisions, documented here because the operator sees their effect:

* **Printer faults** (paper out, head open) pause the line. The label being sent when the
  fault struck is rejected (its serial is decommissioned), and printing resumes with a NEW
  serial when the printer is ready: a serial is never printed twice, none is skipped
  without being accounted for.
* **Reprint** voids the damaged unit's serial (decommissioning event, audit entry) and the
  line prints a replacement with a new serial.
* **Journal write failure** (disk full, I/O error): the engine stops at once — nothing more
  is printed in this process, so no label exists whose serial could not be journalled — and
  tells :attr:`LineEngine.failure` listeners (the agent raises the alarm directly over MQTT
  and exits non-zero, so systemd restarts it). The database stays intact: a failed commit is
  rolled back, and the restart resolves the units in flight as below.
* **Restart**: serials ``sent`` when the agent stopped are rejected ("in flight when the agent
  stopped") with a decommissioning event; serials ``allocated`` but never sent are voided
  without an event (they were never printed). The work order comes back paused.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from edge import codes
from edge.codes import ContainerLabel, UnitLabel, Where
from edge.config import LineConfig
from edge.journal import (
    Journal,
    JournalError,
    JournalWriteError,
    OutboxItem,
    SerialState,
    WorkOrderState,
    is_write_failure,
)
from edge.reject import RejectOutput
from edge.serials import SerialSourceError, SerialSupply
from lineside import contract
from lineside.contract import (
    Alarm,
    AlarmCode,
    EventMessage,
    LineCounters,
    LineState,
    LineStatus,
    ReconciliationReport,
    Severity,
    Topics,
    WorkOrder,
)
from lineside.errors import DeviceError, LinesideError

logger = logging.getLogger(__name__)

#: Pauses the line makes for safety; resuming from one is an audited override.
#: Why the line pauses while the verify scanner is disconnected (it resumes by itself).
SCANNER_OFFLINE = "verify scanner offline"

SAFETY_STOPS = frozenset(
    {"too many rejects", "case label not verified", "pallet label not printed"}
)

#: Verdicts are committed together at most this long after the first of them.
GROUP_COMMIT_S = 0.003


class EngineError(LinesideError):
    """An operator or server request the engine cannot carry out now."""


class UnitPrinter(Protocol):
    """Prints unit labels; returns when the label is printed (or raises ``DeviceError``)."""

    async def print_unit(self, label: UnitLabel) -> None: ...


class CasePrinter(Protocol):
    """Prints case and pallet labels."""

    async def print_container(self, label: ContainerLabel) -> None: ...


class CaseVerifier(Protocol):
    """Confirms a case label was printed and applied (case scanner), or trusts the count.

    The engine calls :meth:`expect` just before the label is printed and :meth:`verify` once
    it is printed; ``verify`` returns ``None`` when the label is confirmed, else the problem.
    """

    def expect(self, sscc: str) -> None: ...

    async def verify(self, sscc: str) -> str | None: ...


class CountVerifier:
    """Case verification by count: the engine built the case from verified units."""

    def expect(self, sscc: str) -> None:
        return None

    async def verify(self, sscc: str) -> str | None:
        return None


class ReadLike(Protocol):
    """What the engine needs from a scanner read (``edge.scanners.ScanRead`` fits)."""

    @property
    def raw(self) -> bytes: ...

    @property
    def error(self) -> str | None: ...

    @property
    def result(self) -> Any: ...


def sscc_of(read: ReadLike) -> tuple[str | None, str]:
    """The SSCC (AI 00) a case-scanner read carries, or ``None`` and why not."""
    text = read.raw.decode("utf-8", "replace")[:60]
    if read.error is not None or read.result is None:
        return None, f"unreadable case label ({read.error})"
    message = getattr(read.result, "message", None)
    sscc = message.get("00") if message is not None else None
    if sscc is None:
        return None, f"not an SSCC label: {text!r} has no AI (00)"
    return str(sscc), ""


class ScannerCaseVerifier:
    """Case verification by a case scanner: the SSCC just printed must be read back.

    Push the case scanner's reads into :meth:`on_read`. A read of the expected SSCC within
    ``window_s`` of the label being printed confirms it; a read of another SSCC (or of no
    SSCC at all) refutes it at once; silence refutes it when the window ends. A second read
    of the case confirmed last (still under the scanner) is ignored.
    """

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._expected: str | None = None
        self._verdict: asyncio.Future[str | None] | None = None
        self._last_confirmed: str | None = None
        self.stray_reads = 0

    def expect(self, sscc: str) -> None:
        self._expected = sscc
        self._verdict = asyncio.get_running_loop().create_future()

    def on_read(self, read: ReadLike) -> None:
        sscc, problem = sscc_of(read)
        verdict = self._verdict
        if sscc is not None and sscc == self._last_confirmed:
            return
        if self._expected is None or verdict is None or verdict.done():
            self.stray_reads += 1
            logger.info("case scanner read while no case label is expected: %s", sscc or problem)
            return
        if sscc == self._expected:
            self._last_confirmed = sscc
            verdict.set_result(None)
        elif sscc is None:
            verdict.set_result(problem)
        else:
            verdict.set_result(f"wrong SSCC {sscc} read, {self._expected} expected")

    async def verify(self, sscc: str) -> str | None:
        if self._expected != sscc or self._verdict is None:
            self.expect(sscc)
        assert self._verdict is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._verdict), self._window_s)
        except TimeoutError:
            return f"no read of SSCC {sscc} within {self._window_s:g} s"
        finally:
            self._expected = None
            self._verdict = None


class Phase(enum.StrEnum):
    IDLE = "idle"
    LOADED = "loaded"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSING = "closing"


@dataclass(slots=True)
class _InFlight:
    serial: str
    taken_at: float
    printed_at: float | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class Counters:
    printed: int = 0
    commissioned: int = 0
    rejected: int = 0
    voided: int = 0
    cases: int = 0
    pallets: int = 0
    stray_reads: int = 0
    case_labels_rejected: int = 0


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """A verify read as shown on the operator screen."""

    at: datetime
    text: str
    verdict: str


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    at: datetime
    code: AlarmCode
    severity: Severity
    message: str
    cleared: bool = False


@dataclass
class Observations:
    """Timings for the benchmark: serial -> (taken monotonic, outbox seq of its event)."""

    taken: dict[str, float] = field(default_factory=dict)
    seq_of: dict[int, str] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


class LineEngine:
    """Runs one line's work orders. See the module docstring for the rules."""

    def __init__(
        self,
        config: LineConfig,
        journal: Journal,
        *,
        printer: UnitPrinter,
        reject: RejectOutput,
        supply: SerialSupply,
        case_printer: CasePrinter | None = None,
        case_verifier: CaseVerifier | None = None,
        on_commit: Callable[[], None] = lambda: None,
        observations: Observations | None = None,
        auto_close: bool = True,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self._printer = printer
        self._reject = reject
        self._supply = supply
        self._case_printer = case_printer
        self._case_verifier = case_verifier or CountVerifier()
        self._on_commit = on_commit
        self._obs = observations
        self._auto_close = auto_close
        self.topics = Topics(config.line.site, config.line.line_id)
        self.where = Where(
            read_point=codes.location(config.line.site_gln, config.line.line_id),
            biz_location=codes.location(config.line.site_gln),
        )
        self.order: WorkOrder | None = None
        self.phase = Phase.IDLE
        self.pause_reason = ""
        self.counters = Counters()
        self.last_reads: deque[ReadRecord] = deque(maxlen=20)
        self.alarms: deque[AlarmRecord] = deque(maxlen=50)
        self._inflight: dict[str, _InFlight] = {}
        self._waiting: deque[str] = deque()  # printed, unverified, in print order
        self._allocated: deque[str] = deque()
        self._case_members: list[str] = []
        self._commissioned_at: dict[str, float] = {}
        self._rate: deque[float] = deque()
        self._consecutive_rejects = 0
        self._printer_fault: str | None = None
        self._outbox_full = False
        self._running = asyncio.Event()
        self._changed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = asyncio.Event()
        self._stopping = False
        self._reject_tasks: set[asyncio.Task[None]] = set()
        self._container_tasks: set[asyncio.Task[bool]] = set()
        self._container_lock = asyncio.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._sscc_low_alarmed = False
        self._on_failure = on_failure
        self._scanner_offline: str | None = None
        self._unread_units = 0  # units in a row that got no read while the scanner was silent
        self._silent_alarmed = False
        self._broker_alarmed = False
        #: Why the journal could not be written (the line stopped for good), else ``None``.
        self.failure: str | None = None

    # -- observers ----------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every change (the operator screen pushes an update)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self) -> None:
        self._changed.set()
        for listener in self._listeners:
            listener()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def rate_per_minute(self) -> float:
        cutoff = time.monotonic() - 60
        while self._rate and self._rate[0] < cutoff:
            self._rate.popleft()
        return float(len(self._rate))

    def status(self) -> LineStatus:
        """The retained line status message."""
        state = {
            Phase.IDLE: LineState.ONLINE,
            Phase.LOADED: LineState.ONLINE,
            Phase.RUNNING: LineState.RUNNING,
            Phase.PAUSED: LineState.PAUSED,
            Phase.CLOSING: LineState.STOPPING,
        }[self.phase]
        if self.failure is not None:
            state = LineState.STOPPING
        c = self.counters
        return LineStatus(
            site=self.config.line.site,
            line=self.config.line.line_id,
            state=state,
            work_order=self.order.id if self.order else None,
            counters=LineCounters(
                allocated=c.printed + len(self._allocated),
                printed=c.printed,
                commissioned=c.commissioned,
                rejected=c.rejected,
                cases=c.cases,
                pallets=c.pallets,
                outbox_pending=self.journal.outbox.pending()[0],
            ),
            rate_per_minute=self.rate_per_minute(),
        )

    # -- group commit -------------------------------------------------------------------

    def _hold(self) -> None:
        """Join the group transaction; it is committed within ``GROUP_COMMIT_S``."""
        self.journal.hold()
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(GROUP_COMMIT_S, self._flush_later)

    def flush(self) -> None:
        """Commit pending verdicts (one fsync) and tell the publisher."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self.failure is not None:
            return
        if self.journal.flush():
            self._on_commit()

    def _flush_later(self) -> None:
        with self.guard():
            self.flush()

    # -- journal failure ----------------------------------------------------------------

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Run a journal-writing step; a write failure stops the line (see :meth:`fail`)."""
        try:
            yield
        except Exception as exc:
            if not is_write_failure(exc):
                raise
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """The journal cannot be written: stop for good, in this process.

        Nothing more is printed or journalled; the units in flight stay ``sent`` in the
        journal and are rejected by the next start's :meth:`recover`. The failure listener
        (the agent) raises the alarm by other means and ends the process.
        """
        if self.failure is not None:
            return
        self.failure = (
            f"line journal cannot be written ({exc}): line stopped, nothing printed since; "
            "the agent restarts once the disk has room"
        )
        logger.critical("%s", self.failure)
        self.journal.abandon()
        self._stopping = True
        self._running.set()  # let run() see the stop
        for unit in self._inflight.values():
            if unit.timer is not None:
                unit.timer.cancel()
        self._inflight.clear()
        self._waiting.clear()
        self.alarms.appendleft(
            AlarmRecord(_now(), AlarmCode.OUTBOX_FULL, Severity.CRITICAL, self.failure)
        )
        if self._on_failure is not None:
            self._on_failure(self.failure)
        self._notify()

    # -- outbox helpers -----------------------------------------------------------------

    def _event_item(self, event: dict[str, Any]) -> OutboxItem:
        site, line = self.config.line.site, self.config.line.line_id
        order_id = self.order.id if self.order else None

        def build(seq: int) -> bytes:
            return contract.encode(
                EventMessage(
                    site=site, line=line, device=line, seq=seq, work_order=order_id, event=event
                )
            )

        return OutboxItem(self.topics.events, build, event_id=str(event["eventID"]))

    def _alarm(
        self, code: AlarmCode, severity: Severity, message: str, *, cleared: bool = False
    ) -> None:
        logger.warning("alarm %s%s: %s", code.value, " cleared" if cleared else "", message)
        self.alarms.appendleft(AlarmRecord(_now(), code, severity, message, cleared))
        alarm = Alarm(
            site=self.config.line.site,
            line=self.config.line.line_id,
            code=code,
            severity=severity,
            message=message[:2000],
            cleared=cleared,
        )
        payload = contract.encode(alarm)
        if self.failure is None:
            with self.guard():
                self.journal.outbox.enqueue([OutboxItem(self.topics.alarms, lambda _seq: payload)])
            self._on_commit()
        self._notify()

    # -- work orders --------------------------------------------------------------------

    def recover(self) -> None:
        """Resolve what an earlier run left unfinished (call once, before anything else)."""
        for order, state in self.journal.work_orders.open_orders():
            self.order = order
            now = _now()
            sent = self.journal.serials.in_state(order.id, SerialState.SENT)
            for serial in sent:
                reason = "in flight when the agent stopped"
                event = codes.decommissioning(
                    order.product.gtin, [serial], when=now, where=self.where, reason=reason
                )
                self.journal.serials.transition(
                    serial, SerialState.REJECTED, reason=reason, outbox=[self._event_item(event)]
                )
            for serial in self.journal.serials.in_state(order.id, SerialState.ALLOCATED):
                self.journal.serials.transition(
                    serial, SerialState.VOIDED, reason="allocated, never printed (agent restart)"
                )
            self._case_members = self.journal.serials.uncontained(order.id)
            counts = self.journal.serials.state_counts(order.id)
            self.counters = Counters(
                printed=sum(n for s, n in counts.items() if s is not SerialState.VOIDED) + 0,
                commissioned=counts.get(SerialState.COMMISSIONED, 0),
                rejected=counts.get(SerialState.REJECTED, 0),
                voided=counts.get(SerialState.VOIDED, 0),
                cases=len(self.journal.containers.of_order(order.id, "case")),
                pallets=len(self.journal.containers.of_order(order.id, "pallet")),
            )
            if state is WorkOrderState.RUNNING:
                self.journal.work_orders.set_state(order.id, WorkOrderState.PAUSED)
            self.phase = Phase.LOADED if state is WorkOrderState.LOADED else Phase.PAUSED
            self.pause_reason = "agent restarted" if self.phase is Phase.PAUSED else ""
            if sent:
                logger.warning("rejected %d serials in flight at the last stop", len(sent))
            break
        self._on_commit()
        self._notify()

    def load(self, order: WorkOrder) -> None:
        """Load a work order; only one may be open on a line."""
        if self.order is not None and self.phase is not Phase.IDLE:
            if self.order.id == order.id:
                return
            raise EngineError(
                f"work order {self.order.id!r} is {self.phase.value}; close it before loading "
                f"{order.id!r}"
            )
        existing = self.journal.work_orders.get(order.id)
        if existing is not None and existing[1] is WorkOrderState.CLOSED:
            raise EngineError(f"work order {order.id!r} is already closed")
        self.journal.work_orders.save(order, WorkOrderState.LOADED)
        self.order = order
        self.phase = Phase.LOADED
        self.counters = Counters()
        self._case_members = []
        self._closed.clear()
        logger.info(
            "loaded work order %s: %d x %s lot %s",
            order.id,
            order.quantity,
            order.product.gtin,
            order.lot,
        )
        self._notify()

    def start(self, *, operator: str = "operator") -> None:
        """Start (or resume) the loaded work order.

        Resuming a line that stopped itself for safety (too many rejects, a case label not
        verified) is an override and is audited with ``operator``.
        """
        if self.order is None or self.phase not in (Phase.LOADED, Phase.PAUSED, Phase.RUNNING):
            raise EngineError("no work order is loaded")
        if self.failure is not None:
            raise EngineError(self.failure)
        if self._printer_fault is not None:
            raise EngineError(f"printer not ready: {self._printer_fault}")
        if self._scanner_offline is not None:
            raise EngineError(f"verify scanner offline: {self._scanner_offline}")
        if self.phase is Phase.PAUSED and self.pause_reason in SAFETY_STOPS:
            self.journal.audit.append(
                operator=operator,
                action="override",
                target=f"work_order:{self.order.id}",
                reason=f"resumed after: {self.pause_reason}",
            )
        self.journal.work_orders.set_state(self.order.id, WorkOrderState.RUNNING)
        self.phase = Phase.RUNNING
        self.pause_reason = ""
        self._consecutive_rejects = 0
        self._running.set()
        logger.info("work order %s running", self.order.id)
        self._notify()

    def pause(self, reason: str = "operator") -> None:
        """Stop printing new units; units in flight still get their verdicts."""
        if self.phase is not Phase.RUNNING:
            return
        assert self.order is not None
        self.journal.work_orders.set_state(self.order.id, WorkOrderState.PAUSED)
        self.phase = Phase.PAUSED
        self.pause_reason = reason
        self._running.clear()
        logger.info("work order %s paused: %s", self.order.id, reason)
        self._notify()

    async def close(self, *, operator: str = "system") -> ReconciliationReport:
        """Finish the work order: verdicts, partial case and pallet, reconciliation report.

        Audited with ``operator`` (``system`` when the line closes itself at its quantity).
        """
        if self.order is None or self.phase is Phase.IDLE:
            raise EngineError("no work order is loaded")
        order = self.order
        self.phase = Phase.CLOSING
        self._running.clear()
        self._notify()
        await self._idle.wait()
        await self._wait_verdicts()
        self.flush()
        for serial in list(self._allocated):
            self.journal.serials.transition(
                serial, SerialState.VOIDED, reason="allocated, not printed (work order closed)"
            )
        self._allocated.clear()
        if self._container_tasks:
            await asyncio.gather(*self._container_tasks)
        while self._case_members:
            members = self._case_members[: order.units_per_case]
            self._case_members = self._case_members[order.units_per_case :]
            if not await self._make_case(members, partial=len(members) < order.units_per_case):
                break  # the alarm is raised; the units stay uncontained in the report
        if order.cases_per_pallet and self.journal.containers.of_order(
            order.id, "case", unparented=True
        ):
            async with self._container_lock:
                await self._make_pallet(partial=True)
        report = self._reconcile(order)
        lots = report.lots
        self.journal.audit.append(
            operator=operator,
            role="operator" if operator != "system" else "system",
            action="close",
            target=f"work_order:{order.id}",
            reason="balanced" if report.balanced else "NOT balanced",
            details={
                "allocated": sum(lot.allocated for lot in lots),
                "commissioned": sum(lot.commissioned for lot in lots),
                "rejected": sum(lot.rejected for lot in lots),
                "voided": sum(lot.voided for lot in lots),
                "unaccounted": sum(lot.unaccounted for lot in lots),
                "cases": report.cases,
                "pallets": report.pallets,
            },
        )
        self.journal.work_orders.set_state(order.id, WorkOrderState.CLOSED)
        self.phase = Phase.IDLE
        self._closed.set()
        self._on_commit()
        logger.info("work order %s closed, balanced=%s", order.id, report.balanced)
        self._notify()
        return report

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _reconcile(self, order: WorkOrder) -> ReconciliationReport:
        report = ReconciliationReport(
            site=self.config.line.site,
            line=self.config.line.line_id,
            work_order=order.id,
            lots=tuple(self.journal.serials.lot_counts(order.id)),
            cases=len(self.journal.containers.of_order(order.id, "case")),
            pallets=len(self.journal.containers.of_order(order.id, "pallet")),
        )
        payload = contract.encode(report)
        with self.journal.transaction():
            self.journal.work_orders.save_report(order.id, payload.decode())
            self.journal.outbox.enqueue([OutboxItem(self.topics.reports, lambda _seq: payload)])
        if not report.balanced:
            self._alarm(
                AlarmCode.TOO_MANY_REJECTS,
                Severity.CRITICAL,
                f"work order {order.id}: reconciliation does not balance",
            )
        return report

    # -- device status ------------------------------------------------------------------

    def on_printer_status(self, fault: str | None, code: AlarmCode = AlarmCode.PAPER_OUT) -> None:
        """The unit printer reports a fault (``None`` when it is ready again)."""
        with self.guard():
            self._printer_status(fault, code)

    def _printer_status(self, fault: str | None, code: AlarmCode) -> None:
        if fault is not None:
            if self._printer_fault is None:
                self._printer_fault = fault
                self._alarm(code, Severity.CRITICAL, f"unit printer: {fault}")
                self.pause(f"printer: {fault}")
            return
        was = self._printer_fault
        self._printer_fault = None
        if (
            was is not None
            and self.phase is Phase.PAUSED
            and self.pause_reason.startswith("printer:")
        ):
            if self._scanner_offline is not None:
                self.pause_reason = SCANNER_OFFLINE  # resumes when the scanner is back
                self._notify()
                return
            logger.info("unit printer ready again; resuming")
            self.start()

    def on_scanner_status(self, connected: bool, detail: str = "") -> None:
        """The verify scanner's link changed (``edge.scanners`` status events).

        Disconnected: ``scanner_offline`` alarm and the line pauses — no label is printed
        that cannot be verified (the units in flight get "no read" rejects). Connected again:
        the alarm is cleared and the line resumes if that was why it paused.
        """
        with self.guard():
            self._scanner_status(connected, detail)

    def _scanner_status(self, connected: bool, detail: str) -> None:
        if not connected:
            if self._scanner_offline is None:
                self._scanner_offline = detail or "disconnected"
                self._alarm(
                    AlarmCode.SCANNER_OFFLINE,
                    Severity.CRITICAL,
                    f"verify scanner offline: {self._scanner_offline}",
                )
                self.pause(SCANNER_OFFLINE)
            return
        if self._scanner_offline is None:
            return
        self._scanner_offline = None
        self._alarm(
            AlarmCode.SCANNER_OFFLINE, Severity.INFO, "verify scanner connected", cleared=True
        )
        if self.phase is Phase.PAUSED and self.pause_reason == SCANNER_OFFLINE:
            if self._printer_fault is not None:
                self.pause_reason = f"printer: {self._printer_fault}"
                self._notify()
                return
            logger.info("verify scanner back; resuming")
            self.start()

    def on_broker(self, unreachable_for: float) -> None:
        """The publisher reports how long the broker has been unreachable (0: connected).

        Past ``policy.broker_alarm_after_s`` a ``broker_unreachable`` warning shows on the
        operator screen; the line keeps running on its outbox, which publishes the alarm
        (and its clearing) once the broker is back.
        """
        with self.guard():
            after = self.config.policy.broker_alarm_after_s
            if unreachable_for > after and not self._broker_alarmed:
                self._broker_alarmed = True
                self._alarm(
                    AlarmCode.BROKER_UNREACHABLE,
                    Severity.WARNING,
                    f"broker unreachable for {unreachable_for:.0f} s: events wait in the "
                    "outbox, the line keeps running",
                )
            elif unreachable_for == 0 and self._broker_alarmed:
                self._broker_alarmed = False
                self._alarm(
                    AlarmCode.BROKER_UNREACHABLE,
                    Severity.INFO,
                    "broker reachable again; the outbox is being delivered",
                    cleared=True,
                )

    def on_outbox_usage(self, nearly_full: bool, full: bool) -> None:
        """The publisher reports outbox disk use against its budget."""
        with self.guard():
            self._outbox_usage(nearly_full, full)

    def _outbox_usage(self, nearly_full: bool, full: bool) -> None:
        if full and not self._outbox_full:
            self._outbox_full = True
            self._alarm(
                AlarmCode.OUTBOX_FULL,
                Severity.CRITICAL,
                "outbox disk budget used up: the line stops until the broker is back",
            )
            self.pause("outbox full")
        elif not full and self._outbox_full:
            self._outbox_full = False
            if self.phase is Phase.PAUSED and self.pause_reason == "outbox full":
                self.start()
        elif nearly_full and not any(a.code is AlarmCode.OUTBOX_NEARLY_FULL for a in self.alarms):
            self._alarm(
                AlarmCode.OUTBOX_NEARLY_FULL,
                Severity.WARNING,
                "outbox nearly full: the broker has not acknowledged events for a while",
            )

    # -- the production loop ------------------------------------------------------------

    async def run(self) -> None:
        """Print units while the work order runs; returns after :meth:`stop`."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            await self._running.wait()
            if self.stop_requested:
                break
            order = self.order
            if order is None or self.phase is not Phase.RUNNING:
                self._running.clear()
                continue
            if self.counters.commissioned + len(self._inflight) >= order.quantity:
                if not self._inflight and self._auto_close:
                    self._running.clear()
                    with self.guard():
                        await self.close()
                else:
                    self._changed.clear()
                    await self._changed.wait()
                continue
            if len(self._inflight) >= self.config.timing.max_in_flight:
                self._changed.clear()
                await self._changed.wait()
                continue
            self._idle.clear()
            try:
                with self.guard():
                    await self._print_batch(order, loop)
            finally:
                self._idle.set()

    async def _take_serial(self, order: WorkOrder) -> str:
        if not self._allocated:
            batch = self.config.timing.allocation_batch
            try:
                await self._supply.ensure(batch, order.product.gtin)
            except SerialSourceError as exc:
                self._alarm(AlarmCode.SERIALS_LOW, Severity.CRITICAL, str(exc))
                self.pause("no serials")
                raise
            self._allocated.extend(
                self.journal.serials.allocate(
                    batch, work_order=order.id, gtin=order.product.gtin, lot=order.lot
                )
            )
        return self._allocated.popleft()

    async def _print_batch(self, order: WorkOrder, loop: asyncio.AbstractEventLoop) -> None:
        # Mark a few serials "sent" in one commit, durably, before any of them is printed.
        room = self.config.timing.max_in_flight - len(self._inflight)
        remaining = order.quantity - self.counters.commissioned - len(self._inflight)
        count = max(1, min(room, remaining, self.config.timing.allocation_batch))
        units: list[tuple[_InFlight, UnitLabel]] = []
        for _ in range(count):
            try:
                serial = await self._take_serial(order)
            except SerialSourceError:
                break
            taken = time.monotonic()
            if self._obs is not None:
                self._obs.taken[serial] = taken
            label = codes.unit_label(order, serial, resolver=self.config.line.resolver)
            self.journal.hold()
            self.journal.serials.transition(serial, SerialState.SENT)
            unit = _InFlight(serial, taken)
            self._inflight[serial] = unit
            units.append((unit, label))
        self.flush()
        for index, (unit, label) in enumerate(units):
            if self.failure is not None:
                return  # the journal failed meanwhile: print nothing more
            if self.phase is not Phase.RUNNING and index > 0:
                # Paused mid-batch: the rest were never printed; they are rejected, not reused.
                self._verdict_reject(unit.serial, "not printed: line paused")
                continue
            try:
                await self._printer.print_unit(label)
            except DeviceError as exc:
                self._verdict_reject(unit.serial, f"printer fault: {exc}")
                self.on_printer_status(str(exc), AlarmCode.PRINTER_OFFLINE)
                continue
            self.counters.printed += 1
            if unit.serial not in self._inflight:
                continue
            unit.printed_at = time.monotonic()
            unit.timer = loop.call_later(
                self.config.timing.verify_window_ms / 1000, self._timeout, unit.serial
            )
            self._waiting.append(unit.serial)
            self._notify()

    def _timeout(self, serial: str) -> None:
        if serial in self._inflight:
            with self.guard():
                self._unread_units += 1
                limit = self.config.policy.scanner_silent_after
                if (
                    self._unread_units >= limit
                    and not self._silent_alarmed
                    and self._scanner_offline is None
                ):
                    self._silent_alarmed = True
                    self._alarm(
                        AlarmCode.SCANNER_SILENT,
                        Severity.WARNING,
                        f"verify scanner connected but no read at all for {self._unread_units} "
                        "units in a row",
                    )
                self._verdict_reject(serial, "no read within the verify window")

    async def _wait_verdicts(self) -> None:
        while self._inflight:
            self._changed.clear()
            await self._changed.wait()

    @property
    def stop_requested(self) -> bool:
        return self._stopping

    async def stop(self) -> None:
        """Stop printing, let the units in flight get their verdicts, and end :meth:`run`."""
        self._stopping = True
        self._running.set()
        await self._idle.wait()
        await self._wait_verdicts()
        if self._reject_tasks:
            await asyncio.gather(*self._reject_tasks, return_exceptions=True)
        self.flush()

    # -- verdicts -----------------------------------------------------------------------

    def on_read(self, read: ReadLike) -> None:
        """A read from the verify scanner: commission the unit it names, or reject one."""
        if self.failure is not None:
            return
        with self.guard():
            self._unread_units = 0
            if self._silent_alarmed:
                self._silent_alarmed = False
                self._alarm(
                    AlarmCode.SCANNER_SILENT,
                    Severity.INFO,
                    "verify scanner reads again",
                    cleared=True,
                )
            self._on_read(read)

    def _on_read(self, read: ReadLike) -> None:
        order = self.order
        text = read.raw.decode("utf-8", "replace")[:80]
        if order is None:
            self.counters.stray_reads += 1
            self.last_reads.appendleft(ReadRecord(_now(), text, "no work order"))
            return
        if read.error is not None or read.result is None:
            verdict = f"unreadable: {read.error}"
            self._reject_oldest(verdict, text)
            return
        message = getattr(read.result, "message", None)
        serial = message.get("21") if message is not None else None
        gtin = message.get("01") if message is not None else None
        if serial is None or gtin is None:
            self._reject_oldest("wrong code: not a serialised GS1 unit code", text)
            return
        unit = self._inflight.get(serial)
        if unit is not None and unit.printed_at is not None:
            if gtin != order.product.gtin:
                self._verdict_reject(serial, f"wrong product: GTIN {gtin}")
            else:
                self._commission(serial)
            self.last_reads.appendleft(
                ReadRecord(_now(), text, "ok" if gtin == order.product.gtin else "wrong product")
            )
            return
        if gtin != order.product.gtin:
            self._reject_oldest(f"wrong product: GTIN {gtin}, expected {order.product.gtin}", text)
            return
        state = self.journal.serials.state_of(serial)
        if state is None:
            self._reject_oldest("foreign code: serial not issued on this line", text)
            return
        at = self._commissioned_at.get(serial)
        if at is not None and time.monotonic() - at < self.config.timing.verify_window_ms / 1000:
            # The scanner saw the same label again while it was still in view.
            self.last_reads.appendleft(ReadRecord(_now(), text, "re-read"))
            return
        self._reject_oldest(f"duplicate: serial already {state.value}", text)

    def _reject_oldest(self, reason: str, text: str) -> None:
        self.last_reads.appendleft(ReadRecord(_now(), text, reason))
        while self._waiting and self._waiting[0] not in self._inflight:
            self._waiting.popleft()
        if not self._waiting:
            self.counters.stray_reads += 1
            logger.info("read with no unit to blame: %s (%r)", reason, text)
            self._notify()
            return
        self._verdict_reject(self._waiting[0], reason)

    def _finish(self, serial: str) -> _InFlight:
        unit = self._inflight.pop(serial)
        if unit.timer is not None:
            unit.timer.cancel()
        while self._waiting and self._waiting[0] not in self._inflight:
            self._waiting.popleft()
        return unit

    def _commission(self, serial: str) -> None:
        order = self.order
        assert order is not None
        self._finish(serial)
        event = codes.commissioning(order, [serial], when=_now(), where=self.where)
        self._hold()
        self.journal.serials.transition(
            serial, SerialState.COMMISSIONED, outbox=[self._event_item(event)]
        )
        if self._obs is not None:
            self._obs.seq_of[self.journal.outbox.last_seqs[-1]] = serial
        now = time.monotonic()
        self._commissioned_at[serial] = now
        if len(self._commissioned_at) > 4 * self.config.timing.max_in_flight + 64:
            for old in list(self._commissioned_at)[: len(self._commissioned_at) // 2]:
                del self._commissioned_at[old]
        self._rate.append(now)
        while self._rate and self._rate[0] < now - 60:
            self._rate.popleft()
        self.counters.commissioned += 1
        self._consecutive_rejects = 0
        self._case_members.append(serial)
        if len(self._case_members) >= order.units_per_case:
            members = self._case_members[: order.units_per_case]
            self._case_members = self._case_members[order.units_per_case :]
            task = asyncio.get_running_loop().create_task(self._guarded_case(members))
            self._container_tasks.add(task)
            task.add_done_callback(self._container_tasks.discard)
        self._notify()

    def _verdict_reject(self, serial: str, reason: str) -> None:
        order = self.order
        assert order is not None
        self._finish(serial)
        event = codes.decommissioning(
            order.product.gtin, [serial], when=_now(), where=self.where, reason=reason
        )
        self._hold()
        self.journal.serials.transition(
            serial, SerialState.REJECTED, reason=reason, outbox=[self._event_item(event)]
        )
        self.counters.rejected += 1
        self._consecutive_rejects += 1
        logger.info("rejected %s: %s", serial, reason)
        task = asyncio.get_running_loop().create_task(self._fire_reject(serial, reason))
        self._reject_tasks.add(task)
        task.add_done_callback(self._reject_tasks.discard)
        limit = self.config.policy.max_consecutive_rejects
        if self._consecutive_rejects >= limit and self.phase is Phase.RUNNING:
            self._alarm(
                AlarmCode.TOO_MANY_REJECTS,
                Severity.CRITICAL,
                f"{self._consecutive_rejects} rejects in a row (last: {reason})",
            )
            self.pause("too many rejects")
        self._notify()

    async def _fire_reject(self, serial: str, reason: str) -> None:
        try:
            await self._reject.fire(serial, reason)
        except DeviceError as exc:
            self._alarm(AlarmCode.PRINTER_OFFLINE, Severity.CRITICAL, f"reject output: {exc}")

    # -- operator actions ---------------------------------------------------------------

    def void(self, serial: str, *, reason: str, operator: str, action: str = "void") -> None:
        """Void a unit's serial (damaged label, sampled...) with a reason, audited."""
        order = self.order
        if order is None:
            raise EngineError("no work order is loaded")
        if not reason.strip():
            raise EngineError("a reason is required")
        state = self.journal.serials.state_of(serial)
        if state is None:
            raise EngineError(f"serial {serial!r} was never issued on this line")
        if serial in self._inflight:
            self._finish(serial)
        now = _now()
        container = self.journal.containers.container_of(serial)
        outbox: list[OutboxItem] = []
        if container is not None:
            # Unpack first, so the server's containment loses the unit before it is voided.
            epc = codes.unit_epc(order.product.gtin, serial)
            outbox.append(
                self._event_item(codes.unpacking(container, [epc], when=now, where=self.where))
            )
        outbox.append(
            self._event_item(
                codes.decommissioning(
                    order.product.gtin, [serial], when=now, where=self.where, reason=reason
                )
            )
        )
        with self.journal.transaction():
            if container is not None:
                self.journal.containers.unpack(serial)
            self.journal.serials.transition(
                serial, SerialState.VOIDED, reason=reason, outbox=outbox
            )
            self.journal.audit.append(
                operator=operator,
                action=action,
                serial=serial,
                reason=reason,
                details={"was": state.value, **({"case": container} if container else {})},
            )
        self.flush()
        self._on_commit()
        if state is SerialState.COMMISSIONED:
            self.counters.commissioned -= 1
            if serial in self._case_members:
                self._case_members.remove(serial)
        self.counters.voided += 1
        self._notify()

    def reprint(self, serial: str, *, reason: str, operator: str) -> None:
        """Replace a unit's label: void its serial; the line prints a new one in its place."""
        self.void(serial, reason=reason, operator=operator, action="reprint")

    # -- cases and pallets --------------------------------------------------------------

    def _new_sscc(self, level: str) -> str:
        """The next SSCC of this line's range, written to the journal before it is printed."""
        ext = self.config.line.sscc_extension
        if level == "pallet":
            ext = (ext + 1) % 10
        first, last = self.config.line.sscc_references()
        try:
            reference = self.journal.containers.next_sscc_reference(first, last)
        except JournalWriteError:
            raise  # the line stops (guard), it does not just skip a case
        except JournalError as exc:
            raise EngineError(str(exc)) from exc
        self.flush()  # durable before the label exists: a crash never reuses the reference
        left = self.journal.containers.sscc_references_left(first, last)
        low = self.config.policy.sscc_low_water
        if left < low and (not self._sscc_low_alarmed or left == 0):
            self._sscc_low_alarmed = True
            self._alarm(
                AlarmCode.SERIALS_LOW,
                Severity.CRITICAL if left == 0 else Severity.WARNING,
                f"SSCC range [{first}, {last}]: {left} serial references left",
            )
        return codes.build_sscc(self.config.line.company_prefix, reference, ext)

    def _still_packable(self, members: list[str]) -> list[str]:
        # A unit voided while its case was being labelled must not be packed.
        return [s for s in members if self.journal.serials.state_of(s) is SerialState.COMMISSIONED]

    async def _guarded_case(self, members: list[str]) -> bool:
        try:
            return await self._make_case(members, partial=False)
        except Exception as exc:
            if not is_write_failure(exc):
                raise
            self.fail(exc)
            return False

    async def _make_case(self, members: list[str], *, partial: bool) -> bool:
        """Label, verify and record a case; on failure the units go back to be packed next."""
        order = self.order
        assert order is not None
        async with self._container_lock:
            problem = ""
            try:
                sscc = await self._labelled_container("case", len(members))
            except EngineError as exc:
                sscc, problem = None, str(exc)
            if sscc is None:
                self._case_members[:0] = members
                self._alarm(
                    AlarmCode.SCANNER_SILENT,
                    Severity.CRITICAL,
                    f"case of {len(members)} units not packed: {problem or 'label not verified'}"
                    "; the units stay to be packed in the next case",
                )
                self.pause("case label not verified")
                self._notify()
                return False
            members = self._still_packable(members)
            children = [codes.unit_epc(order.product.gtin, s) for s in members]
            outbox = [
                self._event_item(codes.packing(sscc, children, when=_now(), where=self.where))
            ]
            self.journal.containers.add(
                sscc,
                level="case",
                work_order=order.id,
                serials=members,
                outbox=outbox if members else [],
            )
            self._on_commit()
            self.counters.cases += 1
            logger.info("case %s: %d units%s", sscc, len(members), " (partial)" if partial else "")
            if order.cases_per_pallet:
                loose = self.journal.containers.of_order(order.id, "case", unparented=True)
                if len(loose) >= order.cases_per_pallet:
                    await self._make_pallet(partial=False)
        self._notify()
        return True

    async def _make_pallet(self, *, partial: bool) -> None:
        order = self.order
        assert order is not None
        assert order.cases_per_pallet
        cases = self.journal.containers.of_order(order.id, "case", unparented=True)[
            : order.cases_per_pallet
        ]
        if not cases:
            return
        try:
            sscc = await self._labelled_container("pallet", len(cases))
        except EngineError as exc:
            sscc = None
            self._alarm(AlarmCode.SERIALS_LOW, Severity.CRITICAL, f"pallet not built: {exc}")
        if sscc is None:
            self.pause("pallet label not printed")
            return
        event = codes.packing(
            sscc, [codes.sscc_epc(c) for c in cases], when=_now(), where=self.where
        )
        self.journal.containers.add(
            sscc,
            level="pallet",
            work_order=order.id,
            child_containers=cases,
            outbox=[self._event_item(event)],
        )
        self._on_commit()
        self.counters.pallets += 1
        logger.info("pallet %s: %d cases%s", sscc, len(cases), " (partial)" if partial else "")

    async def _labelled_container(self, level: str, count: int) -> str | None:
        """A printed (and, for a case, verified) container label's SSCC, or ``None``.

        Every attempt takes a new SSCC: a label that failed is never printed again. The case
        scanner (if any) verifies case labels; pallets are labelled where no scanner reads them.
        """
        order = self.order
        assert order is not None
        attempts = self.config.policy.case_label_attempts
        verifier = self._case_verifier if level == "case" else CountVerifier()
        for attempt in range(1, attempts + 1):
            sscc = self._new_sscc(level)
            verifier.expect(sscc)
            if self._case_printer is not None:
                label = codes.container_label(order, sscc, level=level, count=count)
                try:
                    await self._case_printer.print_container(label)
                except DeviceError as exc:
                    self._alarm(
                        AlarmCode.PRINTER_OFFLINE, Severity.CRITICAL, f"case printer: {exc}"
                    )
                    continue
            problem = await verifier.verify(sscc)
            if problem is None:
                return sscc
            self.counters.case_labels_rejected += 1
            then = "printing a new label" if attempt < attempts else "no attempts left"
            self._alarm(
                AlarmCode.SCANNER_SILENT,
                Severity.WARNING,
                f"{level} label {sscc} rejected: {problem}; {then}",
            )
        return None


def report_text(report: ReconciliationReport) -> str:
    """The human-readable reconciliation report."""
    lines = [f"Work order {report.work_order} — line {report.line} ({report.site})"]
    for lot in report.lots:
        lines.append(
            f"  lot {lot.lot}: allocated {lot.allocated} = commissioned {lot.commissioned}"
            f" + rejected {lot.rejected} + sampled {lot.sampled} + returned {lot.returned}"
            f" + voided {lot.voided}; unaccounted {lot.unaccounted}"
        )
    lines.append(f"  cases {report.cases}, pallets {report.pallets}")
    lines.append("  BALANCED" if report.balanced else "  NOT BALANCED")
    return "\n".join(lines)


def report_json(report: ReconciliationReport) -> str:
    data = json.loads(report.model_dump_json())
    data["balanced"] = report.balanced
    data["unaccounted"] = sum(lot.unaccounted for lot in report.lots)
    return json.dumps(data, ensure_ascii=False, indent=2)
