"""Cases: SSCC ranges per line, case labels verified by a case scanner (the TCP scanner
simulator on a real port), and voiding a unit already packed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from edge.cases import ScannerCaseVerifier
from edge.codes import ContainerLabel, unit_epc
from edge.config import ScannerDevice, parse_config
from edge.devices import feed_reads
from edge.journal import Journal, JournalError, SerialState
from edge.verdicts import Phase
from lineside.contract import Severity, WorkOrder
from lineside.errors import ConfigError
from lineside.gs1 import Sscc
from simulators.line import SimulatedCasePrinter
from simulators.scanners.line import TcpScannerSimulator
from tests.edge.conftest import GTIN, make_order
from tests.edge.simline import SimulatedLine, run_order


def reference(sscc: str) -> int:
    # extension digit, 7-digit company prefix, serial reference, check digit
    return int(sscc[8:17])


# -- SSCC ranges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[20, 10]", "line: sscc_range: [20, 10] must be 1 <= first <= last"),
        ("[0, 10]", "line: sscc_range: [0, 10] must be 1 <= first <= last"),
        (
            "[1, 1000000000]",
            "line: sscc_range: last 1000000000 exceeds 999999999, the largest serial reference "
            "with company prefix 8934567",
        ),
    ],
)
def test_bad_sscc_ranges_are_named(value: str, message: str) -> None:
    text = (
        '[line]\nsite = "s"\nline_id = "L1"\nsite_gln = "8934567000017"\n'
        f'company_prefix = "8934567"\nsscc_range = {value}\n'
        '[broker]\nurl = "mqtt://127.0.0.1:1883"\n[outbox]\npath = "j.db"\n'
    )
    with pytest.raises(ConfigError) as named:
        parse_config(text, source="line.toml")
    assert str(named.value) == f"line.toml: {message}"


def tune(target: SimulatedLine, **updates: dict[str, object]) -> None:
    """Change sections of a line's configuration (``line={...}``, ``policy={...}``)."""
    cfg = target.engine.config
    changed = {name: getattr(cfg, name).model_copy(update=u) for name, u in updates.items()}
    target.engine.config = target.config = cfg.model_copy(update=changed)


async def test_two_lines_take_disjoint_sscc_ranges(tmp_path: Path) -> None:
    lines = []
    for name, first in (("a", 1000), ("b", 2000)):
        (tmp_path / name).mkdir()
        line = SimulatedLine(tmp_path / name)
        tune(line, line={"sscc_range": (first, first + 999)})
        await run_order(line, make_order(quantity=8, units_per_case=2))
        lines.append(line)
    a, b = (set(line.packed()) for line in lines)
    assert len(a) == len(b) == 4
    assert not a & b
    assert sorted(reference(s) for s in a) == [1000, 1001, 1002, 1003]
    assert sorted(reference(s) for s in b) == [2000, 2001, 2002, 2003]
    assert all(Sscc.parse(s).value == s for s in a | b)  # check digits right


def test_sscc_references_survive_a_restart_and_a_moved_range(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    assert [journal.containers.next_sscc_reference(10, 20) for _ in range(3)] == [10, 11, 12]
    journal.close()  # the agent dies here
    journal = Journal.open(tmp_path / "line.db")
    assert journal.containers.next_sscc_reference(10, 20) == 13
    # the technician moves the range back over used references: they are not reused
    assert journal.containers.next_sscc_reference(5, 20) == 14
    assert journal.containers.sscc_references_left(5, 20) == 6
    assert journal.containers.next_sscc_reference(100, 200) == 100
    with pytest.raises(JournalError, match=r"SSCC range \[10, 20\] is used up"):
        journal.containers.next_sscc_reference(10, 20)
    journal.close()


async def test_a_nearly_used_range_alarms_and_an_exhausted_one_stops_packing(
    tmp_path: Path,
) -> None:
    line = SimulatedLine(tmp_path)
    tune(line, line={"sscc_range": (7, 9)}, policy={"sscc_low_water": 2})
    await run_order(line, make_order(quantity=8, units_per_case=2))
    assert sorted(reference(s) for s in line.packed()) == [7, 8, 9]
    alarms = [(a.severity, a.message) for a in line.engine.alarms]
    assert (Severity.WARNING, "SSCC range [7, 9]: 1 serial references left") in alarms
    assert (Severity.CRITICAL, "SSCC range [7, 9]: 0 serial references left") in alarms
    assert any("used up" in m for _, m in alarms)
    assert len(line.journal.serials.uncontained("WO-1")) == 2  # waiting for a case, not lost
    assert line.journal.serials.lot_counts("WO-1")[0].unaccounted == 0


# -- case labels verified by the case scanner -------------------------------------------------


FOREIGN_SSCC = Sscc.build("8934567", 99999, extension=3).value


class CaseConveyor:
    """A case printer whose labels pass the case scanner; ``plan`` says what the scanner
    sees for each label in turn: ``ok``, ``none`` (no read) or ``wrong`` (another SSCC)."""

    def __init__(self, scanner: TcpScannerSimulator, plan: list[str]) -> None:
        self.printer = SimulatedCasePrinter()
        self._scanner = scanner
        self.plan = plan

    async def print_container(self, label: ContainerLabel) -> None:
        await self.printer.print_container(label)
        seen = self.plan.pop(0) if self.plan else "ok"
        if seen == "ok":
            self._scanner.queue.put_nowait("]C100" + label.sscc)
        elif seen == "wrong":
            self._scanner.queue.put_nowait("]d2" + "00" + FOREIGN_SSCC)


async def with_case_scanner(
    tmp_path: Path,
    plan: list[str],
    order: WorkOrder,
    during: Callable[[SimulatedLine], Awaitable[None]] | None = None,
    attempts: int = 3,
    print_s: float = 0.0,
) -> tuple[SimulatedLine, CaseConveyor]:
    async with TcpScannerSimulator() as sim:
        conveyor = CaseConveyor(sim, plan)
        verifier = ScannerCaseVerifier(window_s=0.3)
        line = SimulatedLine(
            tmp_path, case_printer=conveyor, case_verifier=verifier, print_s=print_s
        )
        tune(line, policy={"case_label_attempts": attempts})
        device = ScannerDevice(kind="scanner", id="case", role="case_scanner", url=sim.url)
        tasks = [
            asyncio.create_task(sim.run_queue()),
            asyncio.create_task(feed_reads(device, verifier.on_read)),
        ]
        try:
            await sim.wait_for_client()
            await run_order(line, order, during)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)
    return line, conveyor


async def test_case_scanner_confirms_every_case(tmp_path: Path) -> None:
    line, conveyor = await with_case_scanner(
        tmp_path, [], make_order(quantity=18, units_per_case=6)
    )
    assert len(line.packed()) == 3
    assert [label.sscc for label in conveyor.printer.printed] == list(line.packed())
    assert line.engine.counters.case_labels_rejected == 0


async def test_unread_or_wrong_case_label_is_reprinted_with_a_new_sscc(tmp_path: Path) -> None:
    line, conveyor = await with_case_scanner(
        tmp_path, ["none", "wrong"], make_order(quantity=12, units_per_case=6)
    )
    printed = [label.sscc for label in conveyor.printer.printed]
    packed = line.packed()
    assert len(set(printed)) == 4
    # the two rejected labels carry no units; the first units went into the third label
    assert list(packed) == printed[2:]
    assert sum(len(children) for children in packed.values()) == 12
    messages = [a.message for a in line.engine.alarms if a.severity is Severity.WARNING]
    assert (
        f"case label {printed[0]} rejected: no read of SSCC {printed[0]} within 0.3 s"
        in " ".join(messages)
    )
    assert any(
        f"case label {printed[1]} rejected: wrong SSCC {FOREIGN_SSCC} read" in m for m in messages
    )
    assert line.engine.counters.case_labels_rejected == 2


async def test_a_case_never_verified_pauses_the_line_and_its_units_wait(tmp_path: Path) -> None:
    async def operator(line: SimulatedLine) -> None:
        for _ in range(400):
            await asyncio.sleep(0.01)
            if line.engine.pause_reason == "case label not verified":
                break
        assert line.engine.phase is Phase.PAUSED
        alarm = line.engine.alarms[0]
        assert alarm.severity is Severity.CRITICAL
        assert alarm.message == (
            "case of 6 units not packed: label not verified; "
            "the units stay to be packed in the next case"
        )
        # The units of the unverified case went back to wait for the next case (units still
        # in flight may already have started it, so only membership is certain here).
        commissioned = set(line.journal.serials.in_state("WO-1", SerialState.COMMISSIONED))
        assert set(line.engine.machine.case_members) <= commissioned
        line.engine.start(operator="Lan")  # the technician fixed the scanner

    line, conveyor = await with_case_scanner(
        tmp_path,
        ["none", "none"],
        make_order(quantity=36, units_per_case=6),
        during=operator,
        attempts=2,
        print_s=0.02,
    )
    packed = line.packed()
    assert len(packed) == 6
    assert sorted(len(children) for children in packed.values()) == [6] * 6
    assert len(conveyor.printer.printed) == 8  # two labels rejected, six cases
    assert line.journal.serials.uncontained("WO-1") == []
    override = [r for r in line.journal.audit.records() if r.action == "override"]
    assert [(r.actor, r.reason) for r in override] == [
        ("Lan", "resumed after: case label not verified")
    ]
    assert line.journal.audit.verify() == []


# -- voiding a packed unit --------------------------------------------------------------------


async def test_voiding_a_packed_unit_unpacks_it_first(tmp_path: Path) -> None:
    victim: dict[str, str] = {}

    async def operator(line: SimulatedLine) -> None:
        for _ in range(400):
            await asyncio.sleep(0.005)
            if line.packed():
                break
        sscc, children = next(iter(line.packed().items()))
        serial = children[0].rsplit("/", 1)[1]
        victim.update(sscc=sscc, serial=serial)
        line.engine.void(serial, reason="hộp bị móp", operator="Lan")

    line = SimulatedLine(tmp_path, print_s=0.01)  # slow enough that the void comes mid-order
    await run_order(line, make_order(quantity=12, units_per_case=6), during=operator)
    sscc, serial = victim["sscc"], victim["serial"]
    events = line.events()
    index = next(i for i, e in enumerate(events) if e.get("bizStep") == "unpacking")
    unpack, decommission = events[index], events[index + 1]
    assert (unpack["type"], unpack["action"]) == ("AggregationEvent", "DELETE")
    assert unpack["parentID"] == f"https://id.gs1.org/00/{sscc}"
    assert unpack["childEPCs"] == [unit_epc(GTIN, serial)]
    assert str(unpack["eventID"]).startswith("ni:///sha-256;")
    assert decommission["bizStep"] == "decommissioning"
    assert decommission["epcList"] == [unit_epc(GTIN, serial)]
    assert line.journal.containers.container_of(serial) is None
    children = line.journal.connection.execute(
        "SELECT children FROM containers WHERE sscc = ?", (sscc,)
    ).fetchone()[0]
    assert children == 5
    record = next(r for r in line.journal.audit.records() if r.action == "void")
    assert record.details == {"was": "commissioned", "case": sscc}
    counts = line.journal.serials.lot_counts("WO-1")[0]
    assert (counts.commissioned, counts.unaccounted) == (12, 0)
    assert counts.voided >= 1
