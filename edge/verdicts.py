"""The line's decisions as a sans-I/O state machine: events in, a list of decisions out.

:class:`VerdictMachine` knows the work order, the units between the printer and the verify
scanner, the devices' states and the counters. Its methods take what happened (a read, a
verify window that ended, a printer fault, an operator's start) with the time it happened,
and return what the line must do about it (:data:`Decision`): commission a unit, reject one
with a reason, raise an alarm, pause, run, pack a case. It does no I/O: no clock, no
journal, no asyncio. :class:`edge.engine.LineEngine` feeds it and applies its decisions
(:mod:`edge.effects`).

Pipelining: up to ``max_in_flight`` units are between the printer and the verify scanner at
once. A read is matched to the unit it names **by value** (its serial), never by order; a
read that names no unit in flight (garbage, a foreign or duplicate code, the wrong product)
rejects the oldest printed unit still waiting — the one physically in front of the scanner —
with that reason. A unit whose read does not arrive within ``verify_window_s`` of being
printed is rejected "no read" (:meth:`VerdictMachine.timeout`). A read of a unit whose
label was sent but whose printing the printer has not confirmed yet (labels pipelined in
a printer's buffer are confirmed a moment later) waits for :meth:`VerdictMachine.printed`;
if the label fails instead, the unit is rejected and the read is dropped.

>>> from datetime import date
>>> from lineside.contract import ProductInfo, WorkOrder
>>> order = WorkOrder(id="WO-1", product=ProductInfo(gtin="08934567890120", name_vi="Miến"),
...                   lot="L1", production_date=date(2026, 11, 1), quantity=2,
...                   units_per_case=2)
>>> line = VerdictMachine(VerdictPolicy())
>>> line.load(order, closed=False)  # doctest: +ELLIPSIS
[Loaded(order=WorkOrder(id='WO-1', ...))]
>>> line.start()
[Run(override=None, operator='operator', cause='')]
>>> line.sent("S1"); line.printed("S1", now=0.1)
[AwaitRead(serial='S1', within_s=0.8)]
>>> line.read(ScannedCode("]d2...", gtin="08934567890120", serial="S1"), None, now=0.2)
[Commission(serial='S1'), ShowRead(text=']d2...', verdict='ok')]
>>> line.sent("S2"); line.printed("S2", now=0.4)
[AwaitRead(serial='S2', within_s=0.8)]
>>> line.timeout("S2")
[Reject(serial='S2', reason='no read within the verify window')]
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from edge.alarms import CASE_LABEL_NOT_VERIFIED
from edge.config import LineConfig
from edge.journal import SerialState
from lineside.contract import AlarmCode, Severity, WorkOrder
from lineside.errors import LinesideError

#: Why the line pauses while the verify scanner is disconnected (it resumes by itself).
SCANNER_OFFLINE = "verify scanner offline"

#: Pauses the line makes for safety; resuming from one is an audited override.
SAFETY_STOPS = frozenset(
    {"too many rejects", "case label not verified", "pallet label not printed"}
)


class EngineError(LinesideError):
    """An operator or server request the engine cannot carry out now."""


class Phase(enum.StrEnum):
    IDLE = "idle"
    LOADED = "loaded"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSING = "closing"


class Next(enum.Enum):
    """What the production loop should do next (:meth:`VerdictMachine.next_step`)."""

    WAIT_FOR_START = "wait for start"
    WAIT_FOR_VERDICTS = "wait for verdicts"
    DONE = "done"
    PRINT = "print"


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
class VerdictPolicy:
    """The limits the machine decides by (from ``[timing]`` and ``[policy]``)."""

    verify_window_s: float = 0.8
    max_in_flight: int = 16
    allocation_batch: int = 32
    max_consecutive_rejects: int = 5
    scanner_silent_after: int = 5
    broker_alarm_after_s: float = 30.0
    #: Reject a unit whose code grades below this (a grading camera), if set.
    min_print_grade: str | None = None

    @classmethod
    def from_config(cls, config: LineConfig) -> VerdictPolicy:
        return cls(
            verify_window_s=config.timing.verify_window_ms / 1000,
            max_in_flight=config.timing.max_in_flight,
            allocation_batch=config.timing.allocation_batch,
            max_consecutive_rejects=config.policy.max_consecutive_rejects,
            scanner_silent_after=config.policy.scanner_silent_after,
            broker_alarm_after_s=config.policy.broker_alarm_after_s,
            min_print_grade=config.policy.min_print_grade,
        )


class ReadLike(Protocol):
    """What the line needs from a scanner read (``edge.scanners.ScanRead`` fits)."""

    @property
    def raw(self) -> bytes: ...

    @property
    def error(self) -> str | None: ...

    @property
    def result(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class ScannedCode:
    """What a verify read says: the unit code it carries, or why it carries none.

    ``problem`` is set for a read the scanner could not decode; ``gtin`` or ``serial`` is
    ``None`` for a code that is not a serialised GS1 unit code.
    """

    text: str
    gtin: str | None = None
    serial: str | None = None
    problem: str | None = None
    #: Print-quality grade (A-F) and its lowest parameter, from a grading camera.
    grade: str | None = None
    grade_parameter: str | None = None

    @classmethod
    def of(cls, read: ReadLike) -> ScannedCode:
        text = read.raw.decode("utf-8", "replace")[:80]
        if read.error is not None or read.result is None:
            return cls(text, problem=f"unreadable: {read.error}")
        message = getattr(read.result, "message", None)
        if message is None:
            return cls(text)
        grade = getattr(read, "grade", None), getattr(read, "grade_parameter", None)
        return cls(text, message.get("01"), message.get("21"), None, *grade)

    def below(self, minimum: str | None) -> bool:
        """Whether the code's print-quality grade is below ``minimum`` (A best)."""
        if minimum is None or self.grade is None:
            return False
        return "ABCDF".index(self.grade) > "ABCDF".index(minimum)


# -- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    """A work order is loaded: record it."""

    order: WorkOrder


@dataclass(frozen=True, slots=True)
class Run:
    """The work order runs (again); ``override`` is the safety stop an operator overrode."""

    override: str | None = None
    operator: str = "operator"
    cause: str = ""


@dataclass(frozen=True, slots=True)
class Pause:
    """Print no new unit; the units in flight still get their verdicts."""

    reason: str


@dataclass(frozen=True, slots=True)
class AwaitRead:
    """A unit is printed: call :meth:`VerdictMachine.timeout` if no read names it in time."""

    serial: str
    within_s: float


@dataclass(frozen=True, slots=True)
class Commission:
    """The unit's read verified it: commission its serial."""

    serial: str


@dataclass(frozen=True, slots=True)
class Reject:
    """Reject the unit (decommission its serial, fire the reject output)."""

    serial: str
    reason: str


@dataclass(frozen=True, slots=True)
class Forget:
    """The unit left the line without a verdict (an operator voided it): stop waiting."""

    serial: str


@dataclass(frozen=True, slots=True)
class PackCase:
    """Enough units are commissioned: label, verify and record a case of them."""

    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RaiseAlarm:
    code: AlarmCode
    severity: Severity
    message: str
    cleared: bool = False


@dataclass(frozen=True, slots=True)
class ShowRead:
    """Show a verify read and what the line made of it on the operator screen."""

    text: str
    verdict: str


@dataclass(frozen=True, slots=True)
class StrayRead:
    """A bad read with no unit waiting to blame it on."""

    reason: str
    text: str


Decision = (
    Loaded
    | Run
    | Pause
    | AwaitRead
    | Commission
    | Reject
    | Forget
    | PackCase
    | RaiseAlarm
    | ShowRead
    | StrayRead
)


class VerdictMachine:
    """The state of one line and its decisions; see the module docstring.

    Times (``now``) are seconds on a monotonic clock. A method that refuses a request raises
    :class:`EngineError`.
    """

    def __init__(self, policy: VerdictPolicy) -> None:
        self.policy = policy
        self.order: WorkOrder | None = None
        self.phase = Phase.IDLE
        self.pause_reason = ""
        self.counters = Counters()
        #: Why the journal cannot be written (the line stopped for good), else ``None``.
        self.failure: str | None = None
        self._in_flight: dict[str, float | None] = {}  # serial -> when printed
        self._waiting: deque[str] = deque()  # printed, unverified, in print order
        #: Reads of units whose label was sent but not yet confirmed printed: each waits
        #: for its confirmation (a unit never counts before it), serial -> (read, when).
        self._early: dict[str, tuple[ScannedCode, float]] = {}
        self._case_members: list[str] = []
        self._commissioned_at: dict[str, float] = {}
        # Units commissioned per whole second, the last minute of them: [second, count].
        self._rate: deque[list[int]] = deque()
        self._consecutive_rejects = 0
        self._unread_units = 0  # units in a row that got no read while the scanner was silent
        self._silent_alarmed = False
        self._printer_fault: str | None = None
        self._printer_fault_code = AlarmCode.PRINTER_OFFLINE
        self._scanner_offline: str | None = None
        self._outbox_full = False
        self._broker_alarmed = False

    # -- what the line looks like -------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def case_members(self) -> tuple[str, ...]:
        """Commissioned units waiting to be packed into the next case."""
        return tuple(self._case_members)

    @property
    def printer_fault(self) -> str | None:
        """The unit printer's fault (``None``: ready)."""
        return self._printer_fault

    @property
    def scanner_offline(self) -> str | None:
        """Why the verify scanner is offline (``None``: connected)."""
        return self._scanner_offline

    def awaits(self, serial: str) -> bool:
        """Whether ``serial`` is in flight (sent to the printer, no verdict yet)."""
        return serial in self._in_flight

    def rate_per_minute(self, now: float) -> float:
        """Units commissioned in the minute before ``now`` (to the second)."""
        self._forget_rate(now)
        return float(sum(count for _, count in self._rate))

    def _forget_rate(self, now: float) -> None:
        while self._rate and self._rate[0][0] <= int(now) - 60:
            self._rate.popleft()

    # -- work orders --------------------------------------------------------------------

    def load(self, order: WorkOrder, *, closed: bool) -> list[Decision]:
        """Load ``order`` (``closed``: the journal says it was closed before)."""
        if self.order is not None and self.phase is not Phase.IDLE:
            if self.order.id == order.id:
                return []
            raise EngineError(
                f"work order {self.order.id!r} is {self.phase.value}; close it before loading "
                f"{order.id!r}"
            )
        if closed:
            raise EngineError(f"work order {order.id!r} is already closed")
        self.order = order
        self.phase = Phase.LOADED
        self.counters = Counters()
        self._case_members = []
        return [Loaded(order)]

    def adopt(
        self, order: WorkOrder, *, paused: bool, counters: Counters, case_members: list[str]
    ) -> None:
        """Take over a work order an earlier run left open (its journal already resolved)."""
        self.order = order
        self.counters = counters
        self._case_members = list(case_members)
        self.phase = Phase.PAUSED if paused else Phase.LOADED
        self.pause_reason = "agent restarted" if paused else ""

    def start(self, *, operator: str = "operator", cause: str = "") -> list[Decision]:
        """Start or resume the loaded work order.

        Resuming a line that stopped itself for safety is an override by ``operator``.
        """
        if self.order is None or self.phase not in (Phase.LOADED, Phase.PAUSED, Phase.RUNNING):
            raise EngineError("no work order is loaded")
        if self.failure is not None:
            raise EngineError(self.failure)
        if self._printer_fault is not None:
            raise EngineError(f"printer not ready: {self._printer_fault}")
        if self._scanner_offline is not None:
            raise EngineError(f"verify scanner offline: {self._scanner_offline}")
        override = None
        if self.phase is Phase.PAUSED and self.pause_reason in SAFETY_STOPS:
            override = self.pause_reason
        self.phase = Phase.RUNNING
        self.pause_reason = ""
        self._consecutive_rejects = 0
        return [Run(override, operator, cause)]

    def pause(self, reason: str) -> list[Decision]:
        """Stop printing new units (only a running line pauses)."""
        if self.phase is not Phase.RUNNING:
            return []
        self.phase = Phase.PAUSED
        self.pause_reason = reason
        return [Pause(reason)]

    def closing(self) -> WorkOrder:
        """The work order starts closing: print nothing more. Returns it."""
        if self.order is None or self.phase is Phase.IDLE:
            raise EngineError("no work order is loaded")
        self.phase = Phase.CLOSING
        return self.order

    def closed(self) -> None:
        self.phase = Phase.IDLE

    def fail(self, failure: str) -> None:
        """The journal cannot be written: no verdict is recorded any more."""
        self.failure = failure
        self._in_flight.clear()
        self._waiting.clear()
        self._early.clear()

    # -- printing -----------------------------------------------------------------------

    def next_step(self) -> Next:
        """What the production loop should do now."""
        order = self.order
        if order is None or self.phase is not Phase.RUNNING:
            return Next.WAIT_FOR_START
        if self.counters.commissioned + len(self._in_flight) >= order.quantity:
            return Next.WAIT_FOR_VERDICTS if self._in_flight else Next.DONE
        if len(self._in_flight) >= self.policy.max_in_flight:
            return Next.WAIT_FOR_VERDICTS
        return Next.PRINT

    def batch_size(self) -> int:
        """How many serials to mark sent (in one commit) before printing them."""
        assert self.order is not None
        room = self.policy.max_in_flight - len(self._in_flight)
        remaining = self.order.quantity - self.counters.commissioned - len(self._in_flight)
        return max(1, min(room, remaining, self.policy.allocation_batch))

    def no_serials(self, problem: str) -> list[Decision]:
        """No serial source could deliver."""
        alarm = RaiseAlarm(AlarmCode.SERIALS_LOW, Severity.CRITICAL, problem)
        return [alarm, *self.pause("no serials")]

    def sent(self, serial: str) -> None:
        """``serial`` is durably ``sent``: its label is about to be printed."""
        self._in_flight[serial] = None

    def before_print(self, serial: str, *, first: bool) -> list[Decision]:
        """Empty when the unit may be printed now, else what to do with it instead.

        A line paused while a batch was being printed rejects the rest of the batch, which
        was marked sent but never printed; a serial is never reused.
        """
        if self.phase is Phase.RUNNING or first:
            return []
        return self._reject(serial, "not printed: line paused")

    def print_failed(self, serial: str, problem: str, code: AlarmCode) -> list[Decision]:
        """The printer refused the unit's label."""
        return self._reject(serial, f"printer fault: {problem}") + self.printer_status(
            problem, code
        )

    def printed(self, serial: str, now: float) -> list[Decision]:
        """The unit's label is printed: it travels to the verify scanner."""
        self.counters.printed += 1
        if serial not in self._in_flight:
            return []
        self._in_flight[serial] = now
        self._waiting.append(serial)
        decisions: list[Decision] = [AwaitRead(serial, self.policy.verify_window_s)]
        early = self._early.pop(serial, None)
        if early is not None:  # read while its confirmation was on its way
            decisions += self._verdict(early[0], SerialState.SENT, now)
        return decisions

    def timeout(self, serial: str) -> list[Decision]:
        """The verify window of ``serial`` ended (nothing to do if it has its verdict)."""
        if serial not in self._in_flight:
            return []
        decisions: list[Decision] = []
        self._unread_units += 1
        if (
            self._unread_units >= self.policy.scanner_silent_after
            and not self._silent_alarmed
            and self._scanner_offline is None
        ):
            self._silent_alarmed = True
            decisions.append(
                RaiseAlarm(
                    AlarmCode.SCANNER_SILENT,
                    Severity.WARNING,
                    f"verify scanner connected but no read at all for {self._unread_units} "
                    "units in a row",
                )
            )
        return decisions + self._reject(serial, "no read within the verify window")

    # -- reads --------------------------------------------------------------------------

    def read(self, code: ScannedCode, known: SerialState | None, now: float) -> list[Decision]:
        """A read from the verify scanner: commission the unit it names, or reject one.

        ``known`` is what the journal says of ``code.serial`` (``None``: never issued here).
        """
        if self.failure is not None:
            return []
        decisions: list[Decision] = []
        self._unread_units = 0
        if self._silent_alarmed:
            self._silent_alarmed = False
            decisions.append(
                RaiseAlarm(
                    AlarmCode.SCANNER_SILENT,
                    Severity.INFO,
                    "verify scanner reads again",
                    cleared=True,
                )
            )
        return decisions + self._verdict(code, known, now)

    def _verdict(self, code: ScannedCode, known: SerialState | None, now: float) -> list[Decision]:
        order = self.order
        if order is None:
            self.counters.stray_reads += 1
            return [ShowRead(code.text, "no work order")]
        if code.problem is not None:
            return self._reject_oldest(code.problem, code.text)
        serial, gtin = code.serial, code.gtin
        if serial is None or gtin is None:
            return self._reject_oldest("wrong code: not a serialised GS1 unit code", code.text)
        if serial in self._in_flight and self._in_flight[serial] is None:
            # Sent, and the printer's confirmation is still on its way (labels pipelined
            # in the printer): the read waits for it; printed() or a reject decides.
            if serial in self._early:
                return [ShowRead(code.text, "re-read")]
            self._early[serial] = (code, now)
            return []
        if self._in_flight.get(serial) is not None:  # printed, waiting for this read
            if gtin != order.product.gtin:
                decisions = self._reject(serial, f"wrong product: GTIN {gtin}")
                return [*decisions, ShowRead(code.text, "wrong product")]
            if code.below(self.policy.min_print_grade):
                reason = f"print quality: grade {code.grade} ({code.grade_parameter})"
                return [*self._reject(serial, reason), ShowRead(code.text, "print quality")]
            return [*self._commission(serial, now), ShowRead(code.text, "ok")]
        if gtin != order.product.gtin:
            reason = f"wrong product: GTIN {gtin}, expected {order.product.gtin}"
            return self._reject_oldest(reason, code.text)
        if known is None:
            return self._reject_oldest("foreign code: serial not issued on this line", code.text)
        at = self._commissioned_at.get(serial)
        if at is not None and now - at < self.policy.verify_window_s:
            # The scanner saw the same label again while it was still in view.
            return [ShowRead(code.text, "re-read")]
        return self._reject_oldest(f"duplicate: serial already {known.value}", code.text)

    def _reject_oldest(self, reason: str, text: str) -> list[Decision]:
        decisions: list[Decision] = [ShowRead(text, reason)]
        self._prune_waiting()
        if not self._waiting:
            self.counters.stray_reads += 1
            return [*decisions, StrayRead(reason, text)]
        return decisions + self._reject(self._waiting[0], reason)

    def _prune_waiting(self) -> None:
        while self._waiting and self._waiting[0] not in self._in_flight:
            self._waiting.popleft()

    def _finish(self, serial: str) -> None:
        del self._in_flight[serial]
        self._early.pop(serial, None)
        self._prune_waiting()

    def _commission(self, serial: str, now: float) -> list[Decision]:
        order = self.order
        assert order is not None
        self._finish(serial)
        decisions: list[Decision] = [Commission(serial)]
        self._commissioned_at[serial] = now
        if len(self._commissioned_at) > 4 * self.policy.max_in_flight + 64:
            for old in list(self._commissioned_at)[: len(self._commissioned_at) // 2]:
                del self._commissioned_at[old]
        second = int(now)
        if self._rate and self._rate[-1][0] == second:
            self._rate[-1][1] += 1
        else:
            self._rate.append([second, 1])
            self._forget_rate(now)
        self.counters.commissioned += 1
        self._consecutive_rejects = 0
        self._case_members.append(serial)
        if len(self._case_members) >= order.units_per_case:
            members = self._case_members[: order.units_per_case]
            self._case_members = self._case_members[order.units_per_case :]
            decisions.append(PackCase(tuple(members)))
        return decisions

    def _reject(self, serial: str, reason: str) -> list[Decision]:
        self._finish(serial)
        decisions: list[Decision] = [Reject(serial, reason)]
        self.counters.rejected += 1
        self._consecutive_rejects += 1
        limit = self.policy.max_consecutive_rejects
        if self._consecutive_rejects >= limit and self.phase is Phase.RUNNING:
            decisions.append(
                RaiseAlarm(
                    AlarmCode.TOO_MANY_REJECTS,
                    Severity.CRITICAL,
                    f"{self._consecutive_rejects} rejects in a row (last: {reason})",
                )
            )
            decisions += self.pause("too many rejects")
        return decisions

    # -- devices ------------------------------------------------------------------------

    def printer_status(self, fault: str | None, code: AlarmCode) -> list[Decision]:
        """The unit printer reports a fault (``None`` when it is ready again)."""
        if fault is not None:
            if self._printer_fault is not None:
                return []
            self._printer_fault = fault
            self._printer_fault_code = code
            alarm = RaiseAlarm(code, Severity.CRITICAL, f"unit printer: {fault}")
            return [alarm, *self.pause(f"printer: {fault}")]
        was = self._printer_fault
        self._printer_fault = None
        if was is None:
            return []
        # The fault's own alarm clears (paper refilled, head closed), whatever the phase.
        ready: list[Decision] = [
            RaiseAlarm(self._printer_fault_code, Severity.INFO, "unit printer ready", cleared=True)
        ]
        if self.phase is not Phase.PAUSED or not self.pause_reason.startswith("printer:"):
            return ready
        if self._scanner_offline is not None:
            self.pause_reason = SCANNER_OFFLINE  # resumes when the scanner is back
            return ready
        return ready + self.start(cause="unit printer ready again")

    def scanner_status(self, connected: bool, detail: str) -> list[Decision]:
        """The verify scanner's link changed.

        Disconnected: ``scanner_offline`` alarm and the line pauses — no label is printed
        that cannot be verified (the units in flight get "no read" rejects). Connected again:
        the alarm is cleared and the line resumes if that was why it paused.
        """
        if not connected:
            if self._scanner_offline is not None:
                return []
            self._scanner_offline = detail or "disconnected"
            message = f"verify scanner offline: {self._scanner_offline}"
            alarm = RaiseAlarm(AlarmCode.SCANNER_OFFLINE, Severity.CRITICAL, message)
            return [alarm, *self.pause(SCANNER_OFFLINE)]
        if self._scanner_offline is None:
            return []
        self._scanner_offline = None
        decisions: list[Decision] = [
            RaiseAlarm(
                AlarmCode.SCANNER_OFFLINE, Severity.INFO, "verify scanner connected", cleared=True
            )
        ]
        if self.phase is not Phase.PAUSED or self.pause_reason != SCANNER_OFFLINE:
            return decisions
        if self._printer_fault is not None:
            self.pause_reason = f"printer: {self._printer_fault}"
            return decisions
        return decisions + self.start(cause="verify scanner back")

    def broker(self, unreachable_for: float) -> list[Decision]:
        """The broker has been unreachable for ``unreachable_for`` seconds (0: connected).

        Past ``broker_alarm_after_s`` a warning; the line keeps running on its outbox.
        """
        if unreachable_for > self.policy.broker_alarm_after_s and not self._broker_alarmed:
            self._broker_alarmed = True
            message = (
                f"broker unreachable for {unreachable_for:.0f} s: events wait in the "
                "outbox, the line keeps running"
            )
            return [RaiseAlarm(AlarmCode.BROKER_UNREACHABLE, Severity.WARNING, message)]
        if unreachable_for == 0 and self._broker_alarmed:
            self._broker_alarmed = False
            message = "broker reachable again; the outbox is being delivered"
            return [RaiseAlarm(AlarmCode.BROKER_UNREACHABLE, Severity.INFO, message, cleared=True)]
        return []

    def outbox_usage(
        self, *, nearly_full: bool, full: bool, nearly_full_shown: bool
    ) -> list[Decision]:
        """The outbox's disk use against its budget (``nearly_full_shown``: that alarm is
        still in the alarm book)."""
        if full and not self._outbox_full:
            self._outbox_full = True
            message = "outbox disk budget used up: the line stops until the broker is back"
            alarm = RaiseAlarm(AlarmCode.OUTBOX_FULL, Severity.CRITICAL, message)
            return [alarm, *self.pause("outbox full")]
        if not full and self._outbox_full:
            self._outbox_full = False
            if self.phase is Phase.PAUSED and self.pause_reason == "outbox full":
                return self.start()
            return []
        if nearly_full and not nearly_full_shown:
            message = "outbox nearly full: the broker has not acknowledged events for a while"
            return [RaiseAlarm(AlarmCode.OUTBOX_NEARLY_FULL, Severity.WARNING, message)]
        return []

    # -- cases and operators ------------------------------------------------------------

    def case_not_packed(self, members: list[str], problem: str) -> list[Decision]:
        """No verified label for a case of ``members``: they wait for the next case."""
        self._case_members[:0] = members
        message = (
            f"case of {len(members)} units not packed: {problem or 'label not verified'}"
            "; the units stay to be packed in the next case"
        )
        alarm = RaiseAlarm(CASE_LABEL_NOT_VERIFIED, Severity.CRITICAL, message)
        return [alarm, *self.pause("case label not verified")]

    def take_case(self, size: int) -> list[str]:
        """Up to ``size`` units waiting for a case, taken out to be packed now."""
        members = self._case_members[:size]
        self._case_members = self._case_members[size:]
        return members

    def forget(self, serial: str) -> list[Decision]:
        """An operator takes ``serial`` off the line before its verdict."""
        if serial not in self._in_flight:
            return []
        self._finish(serial)
        return [Forget(serial)]

    def voided(self, serial: str, was: SerialState) -> None:
        """An operator voided ``serial`` (it was ``was``)."""
        if was is SerialState.COMMISSIONED:
            self.counters.commissioned -= 1
            if serial in self._case_members:
                self._case_members.remove(serial)
        self.counters.voided += 1
