"""The line engine: allocate → print → verify → commission or reject → cases → reconcile.

One :class:`LineEngine` runs one line, on one asyncio loop. Devices are reached through
small protocols (:class:`UnitPrinter`, :class:`edge.cases.CasePrinter`,
:class:`edge.reject.RejectOutput`) and scanner reads are pushed in with
:meth:`LineEngine.on_read`, so the engine runs the same against real devices, the simulators
or in-memory fakes.

The engine is glue. What the line decides — which unit a read verifies, when it rejects,
pauses, resumes or packs a case — is the sans-I/O :class:`edge.verdicts.VerdictMachine`;
what those decisions do (journal, outbox, reject output, alarms, screen) is
:class:`edge.effects.LineEffects`; cases and pallets are :class:`edge.cases.CasePacker`; the
reconciliation report is :mod:`edge.reports`. The engine feeds the machine with reads, time
and device states, runs the production loop, and carries out work orders.

Decisions, documented here because the operator sees their effect:

* **Printer faults** (paper out, head open) pause the line. The label being sent when the
  fault struck is rejected (its serial is decommissioned), and printing resumes with a NEW
  serial when the printer is ready: a serial is never printed twice, none is skipped
  without being accounted for.
* **Reprint** voids the damaged unit's serial (decommissioning event, audit entry) and the
  line prints a replacement with a new serial.
* **Journal write failure** stops the line for good in this process
  (:meth:`edge.effects.LineEffects.fail`).
* **Restart**: serials ``sent`` when the agent stopped are rejected ("in flight when the agent
  stopped") with a decommissioning event; serials ``allocated`` but never sent are voided
  without an event (they were never printed). The work order comes back paused.
* **Batches**: the serials of a batch are taken from the reserve and marked ``sent`` in ONE
  commit (one fsync), which must be durable before any of their labels is printed. Its
  size follows the measured commit and print times: about as many labels as print during
  one commit, so the printer is not left idle, and no more (latency), within
  ``allocation_batch`` and the room in flight. Verdicts, cases and pallets join a group
  commit (``GROUP_COMMIT_S``); the fsync'd commits are where a fast line spends most of
  its time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from edge import codes
from edge.alarms import RECONCILIATION_UNBALANCED, AlarmBook
from edge.cases import CasePacker, CasePrinter, CaseVerifier, CountVerifier, ScannerCaseVerifier
from edge.codes import UnitLabel, Where
from edge.config import LineConfig
from edge.effects import LineEffects, Observations, ReadRecord, now
from edge.journal import Journal, OutboxItem, SerialState, WorkOrderState
from edge.labels import LabelApproval
from edge.quality import PrintQuality
from edge.reject import RejectOutput
from edge.reports import reconciliation_report, totals
from edge.serials import SerialSourceError, SerialSupply
from edge.verdicts import (
    Counters,
    EngineError,
    Next,
    Phase,
    ReadLike,
    ScannedCode,
    VerdictMachine,
    VerdictPolicy,
)
from lineside import contract
from lineside.contract import (
    AlarmCode,
    LineCounters,
    LineState,
    LineStatus,
    ReconciliationReport,
    Severity,
    Topics,
    WorkOrder,
)
from lineside.errors import DeviceError

__all__ = [
    "CasePrinter",
    "CaseVerifier",
    "EngineError",
    "LineEngine",
    "Observations",
    "Phase",
    "PipelinedUnitPrinter",
    "PrintConfirmation",
    "ReadLike",
    "ScannerCaseVerifier",
    "UnitPrinter",
]

logger = logging.getLogger(__name__)


class BatchSizer:
    """How many units to mark sent in the next commit.

    The labels of one batch print while the next batch is committed, so a batch should take
    about as long to print as a commit takes: fewer units leave the printer idle during the
    commit, more only add latency. Both times are measured (moving averages); the machine's
    limit (room in flight, quantity left, ``allocation_batch``) caps the size.

    >>> sizer = BatchSizer()
    >>> sizer.size(16)  # nothing measured yet
    1
    >>> sizer.committed(0.004); sizer.printed(0.001)
    >>> sizer.size(16), sizer.size(3)
    (4, 3)
    """

    #: Weight of the newest sample in the averages.
    WEIGHT = 0.2

    def __init__(self) -> None:
        self.commit_s: float | None = None
        self.print_s: float | None = None

    def _average(self, average: float | None, sample: float) -> float:
        return sample if average is None else average + self.WEIGHT * (sample - average)

    def committed(self, seconds: float) -> None:
        """One batch commit took ``seconds``."""
        self.commit_s = self._average(self.commit_s, seconds)

    def printed(self, seconds_per_label: float) -> None:
        """Printing (or sending) a batch took ``seconds_per_label`` a label."""
        self.print_s = self._average(self.print_s, seconds_per_label)

    def size(self, limit: int) -> int:
        if self.commit_s is None or self.print_s is None:
            return 1
        if self.print_s <= 0:
            return limit
        return max(1, min(limit, math.ceil(self.commit_s / self.print_s)))


class UnitPrinter(Protocol):
    """Prints unit labels; returns when the label is printed (or raises ``DeviceError``)."""

    async def print_unit(self, label: UnitLabel) -> None: ...


class PrintConfirmation(Protocol):
    """A label sent to the printer, not yet confirmed printed."""

    async def confirmed(self) -> object:
        """Return once the printer reports the label printed; else raise ``DeviceError``."""
        ...


@runtime_checkable
class PipelinedUnitPrinter(UnitPrinter, Protocol):
    """A unit printer that takes the next label before the last one is confirmed (a
    printer with a buffer): the engine sends a batch's labels, then waits for each one's
    confirmation in order. A unit counts as printed only once confirmed."""

    async def send_unit(self, label: UnitLabel) -> PrintConfirmation: ...


_LINE_STATE = {
    Phase.IDLE: LineState.ONLINE,
    Phase.LOADED: LineState.ONLINE,
    Phase.RUNNING: LineState.RUNNING,
    Phase.PAUSED: LineState.PAUSED,
    Phase.CLOSING: LineState.STOPPING,
}


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
        labels: LabelApproval | None = None,
    ) -> None:
        self.journal = journal
        #: Approves each work order's unit label before it starts (the label preflight).
        self.labels = labels
        #: The rolling print-quality grade of the verify reads (a grading camera).
        self.quality = PrintQuality(config.policy.print_quality_window)
        self._printer = printer
        self._supply = supply
        self._obs = observations
        self._auto_close = auto_close
        #: The line's state and decisions (read it; feed it only through the engine).
        self.machine = VerdictMachine(VerdictPolicy.from_config(config))
        self._fx = LineEffects(
            config,
            journal,
            self.machine,
            reject=reject,
            pack_case=self._pack_case,
            on_commit=on_commit,
            observations=observations,
            on_failure=on_failure,
        )
        self._packer = CasePacker(
            self._fx,
            self.machine,
            case_printer=case_printer,
            case_verifier=case_verifier or CountVerifier(),
        )
        self._unconfirmed: list[tuple[str, PrintConfirmation]] = []  # sent, oldest first
        self._batches = BatchSizer()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = asyncio.Event()

    def _pack_case(self, members: list[str]) -> None:
        self._packer.start_case(members)

    # -- what the line looks like -------------------------------------------------------

    @property
    def config(self) -> LineConfig:
        return self._fx.config

    @config.setter
    def config(self, config: LineConfig) -> None:
        self._fx.config = config
        self.machine.policy = VerdictPolicy.from_config(config)

    @property
    def topics(self) -> Topics:
        return self._fx.topics

    @property
    def where(self) -> Where:
        return self._fx.where

    @property
    def order(self) -> WorkOrder | None:
        return self.machine.order

    @property
    def phase(self) -> Phase:
        return self.machine.phase

    @property
    def pause_reason(self) -> str:
        return self.machine.pause_reason

    @property
    def counters(self) -> Counters:
        return self.machine.counters

    @property
    def failure(self) -> str | None:
        """Why the journal could not be written (the line stopped for good), else ``None``."""
        return self.machine.failure

    @property
    def in_flight(self) -> int:
        return self.machine.in_flight

    @property
    def last_reads(self) -> deque[ReadRecord]:
        return self._fx.last_reads

    @property
    def alarms(self) -> AlarmBook:
        return self._fx.alarms

    def rate_per_minute(self) -> float:
        return self.machine.rate_per_minute(time.monotonic())

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every change (the operator screen pushes an update)."""
        self._fx.subscribe(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        self._fx.unsubscribe(listener)

    def status(self) -> LineStatus:
        """The retained line status message."""
        state = _LINE_STATE[self.phase] if self.failure is None else LineState.STOPPING
        c = self.counters
        return LineStatus(
            site=self.config.line.site,
            line=self.config.line.line_id,
            state=state,
            work_order=self.order.id if self.order else None,
            counters=LineCounters(
                allocated=c.printed,
                printed=c.printed,
                commissioned=c.commissioned,
                rejected=c.rejected,
                cases=c.cases,
                pallets=c.pallets,
                outbox_pending=self.journal.outbox.pending()[0],
            ),
            rate_per_minute=self.rate_per_minute(),
            print_grade=self.quality.grade,
        )

    # -- commits and failures -----------------------------------------------------------

    def flush(self) -> None:
        """Commit pending verdicts (one fsync) and tell the publisher."""
        self._fx.flush()

    def guard(self) -> AbstractContextManager[None]:
        """Run a journal-writing step; a write failure stops the line (see :meth:`fail`)."""
        return self._fx.guard()

    def fail(self, exc: BaseException) -> None:
        """The journal cannot be written: stop for good (:meth:`LineEffects.fail`)."""
        self._fx.fail(exc)

    # -- work orders --------------------------------------------------------------------

    def recover(self) -> None:
        """Resolve what an earlier run left unfinished (call once, before anything else)."""
        for order, state in self.journal.work_orders.open_orders():
            sent = self.journal.serials.in_state(order.id, SerialState.SENT)
            self._resolve_unfinished(order, sent)
            counts = self.journal.serials.state_counts(order.id)
            counters = Counters(
                printed=sum(n for s, n in counts.items() if s is not SerialState.VOIDED),
                commissioned=counts.get(SerialState.COMMISSIONED, 0),
                rejected=counts.get(SerialState.REJECTED, 0),
                voided=counts.get(SerialState.VOIDED, 0),
                cases=self.journal.containers.count_of_order(order.id, "case"),
                pallets=self.journal.containers.count_of_order(order.id, "pallet"),
            )
            if state is WorkOrderState.RUNNING:
                self.journal.work_orders.set_state(order.id, WorkOrderState.PAUSED)
            self.machine.adopt(
                order,
                paused=state is not WorkOrderState.LOADED,
                counters=counters,
                case_members=self.journal.serials.uncontained(order.id),
            )
            if sent:
                logger.warning("rejected %d serials in flight at the last stop", len(sent))
            break
        self._fx.committed()
        self._fx.notify()

    def _resolve_unfinished(self, order: WorkOrder, sent: list[str]) -> None:
        when = now()
        reason = "in flight when the agent stopped"
        for serial in sent:
            event = codes.decommissioning(
                order.product.gtin, [serial], when=when, where=self.where, reason=reason
            )
            self.journal.serials.transition(
                serial,
                SerialState.REJECTED,
                reason=reason,
                outbox=[self._fx.event_item(event, order.id)],
            )
        for serial in self.journal.serials.in_state(order.id, SerialState.ALLOCATED):
            self.journal.serials.transition(
                serial, SerialState.VOIDED, reason="allocated, never printed (agent restart)"
            )

    def load(self, order: WorkOrder) -> None:
        """Load a work order; only one may be open on a line."""
        existing = self.journal.work_orders.get(order.id)
        closed = existing is not None and existing[1] is WorkOrderState.CLOSED
        decisions = self.machine.load(order, closed=closed)
        if decisions:
            self._closed.clear()
        self._fx.apply(decisions)

    def start(self, *, operator: str = "operator") -> None:
        """Start (or resume) the loaded work order.

        Resuming a line that stopped itself for safety (too many rejects, a case label not
        verified) is an override and is audited with ``operator``. A work order whose unit
        label fails its preflight does not start (``LabelRefused``, an :class:`EngineError`).
        """
        if self.labels is not None and self.order is not None:
            self.labels.approve(self.order)  # raises LabelRefused: the line does not start
        self._fx.apply(self.machine.start(operator=operator))

    def pause(self, reason: str = "operator") -> None:
        """Stop printing new units; units in flight still get their verdicts."""
        self._fx.apply(self.machine.pause(reason))

    async def close(self, *, operator: str = "system") -> ReconciliationReport:
        """Finish the work order: verdicts, partial case and pallet, reconciliation report.

        Audited with ``operator`` (``system`` when the line closes itself at its quantity).
        """
        order = self.machine.closing()
        self._fx.running.clear()
        self._fx.notify()
        await self._idle.wait()
        await self._wait_verdicts()
        self.flush()
        await self._packer.finish(order)
        self.flush()  # the last case and pallet, before the report counts them
        report = self._reconcile(order)
        self.journal.audit.append(
            operator=operator,
            role="operator" if operator != "system" else "system",
            action="close",
            target=f"work_order:{order.id}",
            reason="balanced" if report.balanced else "NOT balanced",
            details=totals(report),
        )
        self.journal.work_orders.set_state(order.id, WorkOrderState.CLOSED)
        self.machine.closed()
        self._closed.set()
        self._fx.committed()
        logger.info("work order %s closed, balanced=%s", order.id, report.balanced)
        self._fx.notify()
        return report

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _reconcile(self, order: WorkOrder) -> ReconciliationReport:
        report = reconciliation_report(
            self.journal,
            site=self.config.line.site,
            line=self.config.line.line_id,
            work_order=order.id,
        )
        payload = contract.encode(report)
        with self.journal.transaction():
            self.journal.work_orders.save_report(order.id, payload.decode())
            self.journal.outbox.enqueue([OutboxItem(self.topics.reports, lambda _seq: payload)])
        if not report.balanced:
            self._fx.alarm(
                RECONCILIATION_UNBALANCED,
                Severity.CRITICAL,
                f"work order {order.id}: reconciliation does not balance",
            )
        return report

    # -- device status ------------------------------------------------------------------

    def on_printer_status(self, fault: str | None, code: AlarmCode = AlarmCode.PAPER_OUT) -> None:
        """The unit printer reports a fault (``None`` when it is ready again)."""
        with self.guard():
            self._fx.apply(self.machine.printer_status(fault, code))
            self._fx.notify()

    def on_scanner_status(self, connected: bool, detail: str = "") -> None:
        """The verify scanner's link changed (``edge.scanners`` status events).

        Disconnected: ``scanner_offline`` alarm and the line pauses — no label is printed
        that cannot be verified (the units in flight get "no read" rejects). Connected again:
        the alarm is cleared and the line resumes if that was why it paused.
        """
        with self.guard():
            self._fx.apply(self.machine.scanner_status(connected, detail))
            self._fx.notify()

    def on_broker(self, unreachable_for: float) -> None:
        """The publisher reports how long the broker has been unreachable (0: connected).

        Past ``policy.broker_alarm_after_s`` a ``broker_unreachable`` warning shows on the
        operator screen; the line keeps running on its outbox, which publishes the alarm
        (and its clearing) once the broker is back.
        """
        with self.guard():
            self._fx.apply(self.machine.broker(unreachable_for))

    def on_outbox_usage(self, nearly_full: bool, full: bool) -> None:
        """The publisher reports outbox disk use against its budget."""
        shown = self.alarms.shows(AlarmCode.OUTBOX_NEARLY_FULL)
        with self.guard():
            self._fx.apply(
                self.machine.outbox_usage(
                    nearly_full=nearly_full, full=full, nearly_full_shown=shown
                )
            )

    # -- the production loop ------------------------------------------------------------

    async def run(self) -> None:
        """Print units while the work order runs; returns after :meth:`stop`."""
        fx = self._fx
        while not fx.stopping:
            await fx.running.wait()
            if self.stop_requested:  # a property: stop() may have run while we waited
                break
            step = self.machine.next_step()
            if step is Next.WAIT_FOR_START:
                fx.running.clear()
            elif step is Next.DONE and self._auto_close:
                fx.running.clear()
                with self.guard():
                    await self.close()
            elif step is not Next.PRINT:
                fx.changed.clear()
                await fx.changed.wait()
            else:
                self._idle.clear()
                try:
                    with self.guard():
                        await self._print_batch()
                        if fx.stopping or self.machine.next_step() is not Next.PRINT:
                            await self._confirm_sent()  # no next batch to overlap with
                finally:
                    self._idle.set()

    async def _take_serials(self, order: WorkOrder, count: int) -> list[str]:
        """``count`` serials allocated and marked sent, to commit before printing ([] if none)."""
        try:
            await self._supply.ensure(count, order.product.gtin)
        except SerialSourceError as exc:
            self._fx.apply(self.machine.no_serials(str(exc)))
            return []
        self.journal.hold()
        return self.journal.serials.allocate(
            count, work_order=order.id, gtin=order.product.gtin, lot=order.lot, sent=True
        )

    async def _print_batch(self) -> None:
        order = self.machine.order
        assert order is not None
        serials = await self._take_serials(order, self._batches.size(self.machine.batch_size()))
        taken_at = time.monotonic()
        units = [(s, codes.unit_label(order, s)) for s in serials]
        for serial in serials:
            if self._obs is not None:
                self._obs.taken[serial] = taken_at
            self.machine.sent(serial)
        committing = time.perf_counter()
        self.flush()
        if units:
            self._batches.committed(time.perf_counter() - committing)
        # The previous batch's labels printed during that commit: confirm them first (the
        # run loop confirms the last batch before it waits for anything else).
        running = self.machine.phase is Phase.RUNNING
        await self._confirm_sent()
        paused_meanwhile = running and self.machine.phase is not Phase.RUNNING
        printing = time.perf_counter()
        await self._send(units, paused_meanwhile=paused_meanwhile)
        if units:
            self._batches.printed((time.perf_counter() - printing) / len(units))

    async def _send(self, units: list[tuple[str, UnitLabel]], *, paused_meanwhile: bool) -> None:
        """Print (or send to a pipelining printer) a committed batch's labels, in order."""
        printer = self._printer
        pipelined = printer if isinstance(printer, PipelinedUnitPrinter) else None
        for index, (serial, label) in enumerate(units):
            if self.failure is not None:
                return  # the journal failed meanwhile: print nothing more
            refused = self.machine.before_print(serial, first=index == 0 and not paused_meanwhile)
            if refused:
                self._fx.apply(refused)
                continue
            try:
                if pipelined is not None:
                    self._unconfirmed.append((serial, await pipelined.send_unit(label)))
                    continue
                await printer.print_unit(label)
            except DeviceError as exc:
                self._fx.apply(
                    self.machine.print_failed(serial, str(exc), AlarmCode.PRINTER_OFFLINE)
                )
                continue
            self._fx.apply(self.machine.printed(serial, time.monotonic()))

    async def _confirm_sent(self) -> None:
        """Count each label sent to a pipelining printer printed once confirmed (in order)."""
        sent, self._unconfirmed = self._unconfirmed, []
        for serial, confirmation in sent:
            if self.failure is not None:
                return
            try:
                await confirmation.confirmed()
            except DeviceError as exc:
                self._fx.apply(
                    self.machine.print_failed(serial, str(exc), AlarmCode.PRINTER_OFFLINE)
                )
                continue
            self._fx.apply(self.machine.printed(serial, time.monotonic()))

    async def _wait_verdicts(self) -> None:
        while self.machine.in_flight:
            self._fx.changed.clear()
            await self._fx.changed.wait()

    @property
    def stop_requested(self) -> bool:
        return self._fx.stopping

    async def stop(self) -> None:
        """Stop printing, let the units in flight get their verdicts, and end :meth:`run`."""
        self._fx.stopping = True
        self._fx.running.set()
        await self._idle.wait()
        await self._wait_verdicts()
        await self._fx.rejects_fired()
        self.flush()

    # -- verdicts -----------------------------------------------------------------------

    def on_read(self, read: ReadLike) -> None:
        """A read from the verify scanner: commission the unit it names, or reject one."""
        if self.failure is not None:
            return
        with self.guard():
            code = ScannedCode.of(read)
            serial = code.serial
            if serial is not None and self.machine.awaits(serial):
                known: SerialState | None = SerialState.SENT  # in flight: no query per read
            else:
                known = None if serial is None else self.journal.serials.state_of(serial)
            self._fx.apply(self.machine.read(code, known, time.monotonic()))
            if code.grade is not None:
                self._fx.apply(self.quality.add(code.grade))

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
        self._fx.apply(self.machine.forget(serial))
        when = now()
        container = self.journal.containers.container_of(serial)
        outbox: list[OutboxItem] = []
        if container is not None:
            # Unpack first, so the server's containment loses the unit before it is voided.
            epc = codes.unit_epc(order.product.gtin, serial)
            unpack = codes.unpacking(container, [epc], when=when, where=self.where)
            outbox.append(self._fx.event_item(unpack, order.id))
        decommission = codes.decommissioning(
            order.product.gtin, [serial], when=when, where=self.where, reason=reason
        )
        outbox.append(self._fx.event_item(decommission, order.id))
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
        self._fx.committed()
        self.machine.voided(serial, state)
        self._fx.notify()

    def reprint(self, serial: str, *, reason: str, operator: str) -> None:
        """Replace a unit's label: void its serial; the line prints a new one in its place."""
        self.void(serial, reason=reason, operator=operator, action="reprint")
