"""The line's effects: what the verdict machine's decisions do to the world.

:class:`LineEffects` applies :mod:`edge.verdicts` decisions: it writes verdicts to the
journal with their EPCIS events (in the outbox, same transaction, group-committed within
``GROUP_COMMIT_S``), fires the reject output, raises alarms (alarm book and outbox), arms the
verify-window timers, records the work order's state and tells the operator screen. It makes
no decision of its own.

**Journal write failure** (disk full, I/O error): the line stops at once — nothing more is
printed in this process, so no label exists whose serial could not be journalled — and
tells the failure listener (the agent raises the alarm directly over MQTT and exits
non-zero, so systemd restarts it). The database stays intact: a failed commit is rolled
back, and the restart resolves the units in flight (:meth:`edge.engine.LineEngine.recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edge import codes
from edge.alarms import JOURNAL_FAILED, REJECT_OUTPUT_FAILED, AlarmBook, AlarmRecord
from edge.codes import Where
from edge.config import LineConfig
from edge.journal import Journal, OutboxItem, SerialState, WorkOrderState, is_write_failure
from edge.reject import RejectOutput
from edge.verdicts import (
    AwaitRead,
    Commission,
    Decision,
    Forget,
    Loaded,
    PackCase,
    Pause,
    RaiseAlarm,
    Reject,
    Run,
    ShowRead,
    StrayRead,
    VerdictMachine,
)
from lineside import contract
from lineside.contract import AlarmCode, EventMessage, Severity, Topics
from lineside.errors import DeviceError

logger = logging.getLogger(__name__)

#: Verdicts are committed together at most this long after the first of them.
GROUP_COMMIT_S = 0.003


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """A verify read as shown on the operator screen."""

    at: datetime
    text: str
    verdict: str


@dataclass
class Observations:
    """Timings for the benchmark: serial -> (taken monotonic, outbox seq of its event)."""

    taken: dict[str, float] = field(default_factory=dict)
    seq_of: dict[int, str] = field(default_factory=dict)


def now() -> datetime:
    """The wall-clock time events and records carry."""
    return datetime.now(UTC)


class LineEffects:
    """Applies decisions for one line; also its run gate, observers and failure state."""

    def __init__(
        self,
        config: LineConfig,
        journal: Journal,
        machine: VerdictMachine,
        *,
        reject: RejectOutput,
        pack_case: Callable[[list[str]], None],
        on_commit: Callable[[], None],
        observations: Observations | None,
        on_failure: Callable[[str], None] | None,
    ) -> None:
        self.config = config
        self.journal = journal
        self._machine = machine
        self._reject = reject
        self._pack_case = pack_case
        self._on_commit = on_commit
        self._obs = observations
        self._on_failure = on_failure
        self.topics = Topics(config.line.site, config.line.line_id)
        self.where = Where(
            read_point=codes.location(config.line.site_gln, config.line.line_id),
            biz_location=codes.location(config.line.site_gln),
        )
        self.alarms = AlarmBook()
        self.last_reads: deque[ReadRecord] = deque(maxlen=20)
        #: Set while the line may print (or must notice it is stopping).
        self.running = asyncio.Event()
        #: Set on every change; the production loop waits on it for room or verdicts.
        self.changed = asyncio.Event()
        self.stopping = False
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._reject_tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[Callable[[], None]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._commissioning: codes.UnitCommissioning | None = None

    # -- observers ----------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify(self) -> None:
        self.changed.set()
        for listener in self._listeners:
            listener()

    def committed(self) -> None:
        """Something was committed to the outbox: wake the publisher."""
        self._on_commit()

    # -- group commit -------------------------------------------------------------------

    def hold(self) -> None:
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
        if self._machine.failure is not None:
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
        journal and are rejected by the next start's recovery. The failure listener (the
        agent) raises the alarm by other means and ends the process.
        """
        if self._machine.failure is not None:
            return
        failure = (
            f"line journal cannot be written ({exc}): line stopped, nothing printed since; "
            "the agent restarts once the disk has room"
        )
        logger.critical("%s", failure)
        self._machine.fail(failure)
        self.journal.abandon()
        self.stopping = True
        self.running.set()  # let the production loop see the stop
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self.alarms.add(AlarmRecord(now(), JOURNAL_FAILED, Severity.CRITICAL, failure))
        if self._on_failure is not None:
            self._on_failure(failure)
        self.notify()

    # -- outbox -------------------------------------------------------------------------

    def event_item(self, event: dict[str, Any], work_order: str | None) -> OutboxItem:
        """The outbox item that publishes an EPCIS event of ``work_order``."""
        site, line = self.config.line.site, self.config.line.line_id

        def build(seq: int) -> bytes:
            return contract.encode(
                EventMessage(
                    site=site, line=line, device=line, seq=seq, work_order=work_order, event=event
                )
            )

        return OutboxItem(self.topics.events, build, event_id=str(event["eventID"]))

    def alarm(
        self, code: AlarmCode, severity: Severity, message: str, *, cleared: bool = False
    ) -> None:
        """Show an alarm on the screen and publish it (unless the journal has failed)."""
        logger.warning("alarm %s%s: %s", code.value, " cleared" if cleared else "", message)
        record = self.alarms.add(AlarmRecord(now(), code, severity, message, cleared))
        payload = contract.encode(
            record.message_for(self.config.line.site, self.config.line.line_id)
        )
        if self._machine.failure is None:
            with self.guard():
                self.journal.outbox.enqueue([OutboxItem(self.topics.alarms, lambda _seq: payload)])
            self._on_commit()
        self.notify()

    # -- decisions ----------------------------------------------------------------------

    def apply(self, decisions: Sequence[Decision]) -> None:
        """Carry out ``decisions`` in order, then tell the observers."""
        for decision in decisions:
            match decision:
                case Commission(serial):
                    self._commission(serial)
                case ShowRead(text, verdict):
                    self.last_reads.appendleft(ReadRecord(now(), text, verdict))
                case AwaitRead(serial, within_s):
                    loop = asyncio.get_running_loop()
                    self._timers[serial] = loop.call_later(within_s, self._timeout, serial)
                case Reject(serial, reason):
                    self._reject_unit(serial, reason)
                case PackCase(members):
                    self._pack_case(list(members))
                case RaiseAlarm(code, severity, message, cleared):
                    self.alarm(code, severity, message, cleared=cleared)
                case Pause(reason):
                    self._pause(reason)
                case Run():
                    self._run(decision)
                case Loaded(order):
                    self.journal.work_orders.save(order, WorkOrderState.LOADED)
                    logger.info(
                        "loaded work order %s: %d x %s lot %s",
                        order.id,
                        order.quantity,
                        order.product.gtin,
                        order.lot,
                    )
                case Forget(serial):
                    self._cancel_timer(serial)
                case StrayRead(reason, text):
                    logger.info("read with no unit to blame: %s (%r)", reason, text)
        if decisions:
            self.notify()

    def _cancel_timer(self, serial: str) -> None:
        timer = self._timers.pop(serial, None)
        if timer is not None:
            timer.cancel()

    def _timeout(self, serial: str) -> None:
        self._timers.pop(serial, None)
        if self._machine.awaits(serial):
            with self.guard():
                self.apply(self._machine.timeout(serial))

    def _commission(self, serial: str) -> None:
        order = self._machine.order
        assert order is not None
        self._cancel_timer(serial)
        making = self._commissioning
        if making is None or making.order_id != order.id or making.where != self.where:
            making = self._commissioning = codes.UnitCommissioning(order, self.where)
        event = making.event(serial, when=now())
        self.hold()
        self.journal.serials.transition(
            serial, SerialState.COMMISSIONED, outbox=[self.event_item(event, order.id)]
        )
        if self._obs is not None:
            self._obs.seq_of[self.journal.outbox.last_seqs[-1]] = serial

    def _reject_unit(self, serial: str, reason: str) -> None:
        order = self._machine.order
        assert order is not None
        self._cancel_timer(serial)
        event = codes.decommissioning(
            order.product.gtin, [serial], when=now(), where=self.where, reason=reason
        )
        self.hold()
        self.journal.serials.transition(
            serial, SerialState.REJECTED, reason=reason, outbox=[self.event_item(event, order.id)]
        )
        logger.info("rejected %s: %s", serial, reason)
        task = asyncio.get_running_loop().create_task(self._fire_reject(serial, reason))
        self._reject_tasks.add(task)
        task.add_done_callback(self._reject_tasks.discard)

    async def _fire_reject(self, serial: str, reason: str) -> None:
        try:
            await self._reject.fire(serial, reason)
        except DeviceError as exc:
            self.alarm(REJECT_OUTPUT_FAILED, Severity.CRITICAL, f"reject output: {exc}")

    async def rejects_fired(self) -> None:
        """Wait until every reject output fired so far is done."""
        if self._reject_tasks:
            await asyncio.gather(*self._reject_tasks, return_exceptions=True)

    def _run(self, decision: Run) -> None:
        order = self._machine.order
        assert order is not None
        if decision.override is not None:
            self.journal.audit.append(
                operator=decision.operator,
                action="override",
                target=f"work_order:{order.id}",
                reason=f"resumed after: {decision.override}",
            )
        self.journal.work_orders.set_state(order.id, WorkOrderState.RUNNING)
        self.running.set()
        if decision.cause:
            logger.info("%s; resuming", decision.cause)
        logger.info("work order %s running", order.id)

    def _pause(self, reason: str) -> None:
        order = self._machine.order
        assert order is not None
        self.journal.work_orders.set_state(order.id, WorkOrderState.PAUSED)
        self.running.clear()
        logger.info("work order %s paused: %s", order.id, reason)
