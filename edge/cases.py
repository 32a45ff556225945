"""Cases and pallets: aggregation, SSCC allocation and case label verification.

When the verdict machine decides to pack a case (:class:`edge.verdicts.PackCase`),
:class:`CasePacker` takes a new SSCC from the line's range (durably, before the label
exists), prints the case label, has it verified (:class:`ScannerCaseVerifier` or, without a
case scanner, :class:`CountVerifier`) and records the case with its packing event. A label
that fails verification is never printed again: the next attempt takes a new SSCC. When no
attempt succeeds the units go back to wait for the next case and the line pauses. Every
``cases_per_pallet`` cases make a pallet the same way (pallet labels are not scanned).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from edge import codes
from edge.alarms import CASE_LABEL_NOT_VERIFIED, SSCC_RANGE_LOW
from edge.codes import ContainerLabel
from edge.effects import LineEffects, now
from edge.journal import JournalError, JournalWriteError, SerialState, is_write_failure
from edge.verdicts import EngineError, ReadLike, VerdictMachine
from lineside.contract import AlarmCode, Severity, WorkOrder
from lineside.errors import DeviceError

logger = logging.getLogger(__name__)


class CasePrinter(Protocol):
    """Prints case and pallet labels."""

    async def print_container(self, label: ContainerLabel) -> None: ...


class CaseVerifier(Protocol):
    """Confirms a case label was printed and applied (case scanner), or trusts the count.

    The packer calls :meth:`expect` just before the label is printed and :meth:`verify` once
    it is printed; ``verify`` returns ``None`` when the label is confirmed, else the problem.
    """

    def expect(self, sscc: str) -> None: ...

    async def verify(self, sscc: str) -> str | None: ...


class CountVerifier:
    """Case verification by count: the line built the case from verified units."""

    def expect(self, sscc: str) -> None:
        return None

    async def verify(self, sscc: str) -> str | None:
        return None


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


class CasePacker:
    """Labels, verifies and records the cases and pallets of the line's work order."""

    def __init__(
        self,
        effects: LineEffects,
        machine: VerdictMachine,
        *,
        case_printer: CasePrinter | None,
        case_verifier: CaseVerifier,
    ) -> None:
        self._fx = effects
        self._machine = machine
        self._journal = effects.journal
        self._case_printer = case_printer
        self._case_verifier = case_verifier
        self._tasks: set[asyncio.Task[bool]] = set()
        self._lock = asyncio.Lock()
        self._sscc_low_alarmed = False

    def start_case(self, members: list[str]) -> None:
        """Pack a case of ``members`` in the background (the line goes on meanwhile)."""
        task = asyncio.get_running_loop().create_task(self._guarded_case(members))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, order: WorkOrder) -> None:
        """At close: the cases under way, a last (partial) case and pallet."""
        if self._tasks:
            await asyncio.gather(*self._tasks)
        while self._machine.case_members:
            members = self._machine.take_case(order.units_per_case)
            if not await self._make_case(members, partial=len(members) < order.units_per_case):
                break  # the alarm is raised; the units stay uncontained in the report
        if order.cases_per_pallet and self._journal.containers.of_order(
            order.id, "case", unparented=True
        ):
            async with self._lock:
                await self._make_pallet(partial=True)

    async def _guarded_case(self, members: list[str]) -> bool:
        try:
            return await self._make_case(members, partial=False)
        except Exception as exc:
            if not is_write_failure(exc):
                raise
            self._fx.fail(exc)
            return False

    async def _make_case(self, members: list[str], *, partial: bool) -> bool:
        """Label, verify and record a case; on failure the units go back to be packed next."""
        order = self._machine.order
        assert order is not None
        async with self._lock:
            problem = ""
            try:
                sscc = await self._labelled_container("case", len(members))
            except EngineError as exc:
                sscc, problem = None, str(exc)
            if sscc is None:
                self._fx.apply(self._machine.case_not_packed(members, problem))
                return False
            # A unit voided while its case was being labelled must not be packed.
            members = self._journal.serials.in_state_of(members, SerialState.COMMISSIONED)
            children = [codes.unit_epc(order.product.gtin, s) for s in members]
            event = codes.packing(sscc, children, when=now(), where=self._fx.where)
            self._fx.hold()  # group-committed with the verdicts (nothing is printed after it)
            self._journal.containers.add(
                sscc,
                level="case",
                work_order=order.id,
                serials=members,
                outbox=[self._fx.event_item(event, order.id)] if members else [],
            )
            self._machine.counters.cases += 1
            logger.info("case %s: %d units%s", sscc, len(members), " (partial)" if partial else "")
            if order.cases_per_pallet:
                loose = self._journal.containers.of_order(order.id, "case", unparented=True)
                if len(loose) >= order.cases_per_pallet:
                    await self._make_pallet(partial=False)
        self._fx.notify()
        return True

    async def _make_pallet(self, *, partial: bool) -> None:
        order = self._machine.order
        assert order is not None
        assert order.cases_per_pallet
        loose = self._journal.containers.of_order(order.id, "case", unparented=True)
        cases = loose[: order.cases_per_pallet]
        if not cases:
            return
        try:
            sscc = await self._labelled_container("pallet", len(cases))
        except EngineError as exc:
            sscc = None
            self._fx.alarm(SSCC_RANGE_LOW, Severity.CRITICAL, f"pallet not built: {exc}")
        if sscc is None:
            self._fx.apply(self._machine.pause("pallet label not printed"))
            return
        event = codes.packing(
            sscc, [codes.sscc_epc(c) for c in cases], when=now(), where=self._fx.where
        )
        self._fx.hold()
        self._journal.containers.add(
            sscc,
            level="pallet",
            work_order=order.id,
            child_containers=cases,
            outbox=[self._fx.event_item(event, order.id)],
        )
        self._machine.counters.pallets += 1
        logger.info("pallet %s: %d cases%s", sscc, len(cases), " (partial)" if partial else "")

    async def _labelled_container(self, level: str, count: int) -> str | None:
        """A printed (and, for a case, verified) container label's SSCC, or ``None``.

        Every attempt takes a new SSCC: a label that failed is never printed again. The case
        scanner (if any) verifies case labels; pallets are labelled where no scanner reads them.
        """
        order = self._machine.order
        assert order is not None
        attempts = self._fx.config.policy.case_label_attempts
        verifier = self._case_verifier if level == "case" else CountVerifier()
        for attempt in range(1, attempts + 1):
            sscc = self._new_sscc(level)
            verifier.expect(sscc)
            if self._case_printer is not None:
                label = codes.container_label(order, sscc, level=level, count=count)
                try:
                    await self._case_printer.print_container(label)
                except DeviceError as exc:
                    self._fx.alarm(
                        AlarmCode.PRINTER_OFFLINE, Severity.CRITICAL, f"case printer: {exc}"
                    )
                    continue
            problem = await verifier.verify(sscc)
            if problem is None:
                return sscc
            self._machine.counters.case_labels_rejected += 1
            then = "printing a new label" if attempt < attempts else "no attempts left"
            self._fx.alarm(
                CASE_LABEL_NOT_VERIFIED,
                Severity.WARNING,
                f"{level} label {sscc} rejected: {problem}; {then}",
            )
        return None

    def _new_sscc(self, level: str) -> str:
        """The next SSCC of this line's range, written to the journal before it is printed."""
        line = self._fx.config.line
        ext = line.sscc_extension
        if level == "pallet":
            ext = (ext + 1) % 10
        first, last = line.sscc_references()
        self._fx.hold()  # the commit below also carries the verdicts waiting for theirs
        try:
            reference = self._journal.containers.next_sscc_reference(first, last)
        except JournalWriteError:
            raise  # the line stops (guard), it does not just skip a case
        except JournalError as exc:
            raise EngineError(str(exc)) from exc
        self._fx.flush()  # durable before the label exists: a crash never reuses the reference
        left = self._journal.containers.sscc_references_left(first, last)
        low = self._fx.config.policy.sscc_low_water
        if left < low and (not self._sscc_low_alarmed or left == 0):
            self._sscc_low_alarmed = True
            self._fx.alarm(
                SSCC_RANGE_LOW,
                Severity.CRITICAL if left == 0 else Severity.WARNING,
                f"SSCC range [{first}, {last}]: {left} serial references left",
            )
        return codes.build_sscc(line.company_prefix, reference, ext)
