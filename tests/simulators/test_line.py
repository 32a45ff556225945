"""The line simulator in process: one script decides each label's read, as on the wire."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.contract import AlarmCode
from lineside.errors import PrinterFault
from simulators.line import (
    FOREIGN_CODE,
    OUTCOMES,
    WRONG_GTIN,
    Conveyor,
    ReadScript,
    SimulatedUnitPrinter,
)
from simulators.printers.engines import ZplEngine
from simulators.scanners.codes import GS, SimCode
from simulators.scanners.line import TcpScannerSimulator

ELEMENT_STRING = "0108934567890120" + "10LOT7" + GS + "21AB3XKM9PQR"


@dataclass(frozen=True)
class Label:
    serial: str = "AB3XKM9PQR"
    gtin: str = "08934567890120"
    element_string: str = ELEMENT_STRING


Sent = tuple[str | None, bytes]


async def _reads(script: ReadScript, labels: int = 1) -> tuple[list[Sent], Conveyor]:
    sent: list[Sent] = []
    conveyor = Conveyor.in_process(lambda symbology, data: sent.append((symbology, data)), script)
    for _ in range(labels):
        conveyor.carry(Label())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while conveyor.stats.labels - conveyor.stats.miss > len(sent):
        assert loop.time() < deadline, "the reads never came"
        await asyncio.sleep(0.001)
    return sent, conveyor


async def test_a_good_read_is_the_element_string_after_the_travel() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        arrived: list[float] = []
        conveyor = Conveyor.in_process(lambda s, d: arrived.append(loop.time()), ReadScript(0.05))
        put = loop.time()
        conveyor.carry(Label())
        while not arrived:
            await asyncio.sleep(0.005)
        assert arrived[0] - put >= 0.05

    await scenario()
    sent, conveyor = await _reads(ReadScript(travel_s=0.0))
    assert sent == [("]d2", ELEMENT_STRING.encode())]
    assert (conveyor.stats.labels, conveyor.stats.good) == (1, 1)


async def test_every_outcome_of_the_script_in_process() -> None:
    assert (await _reads(ReadScript(travel_s=0, miss=1.0)))[0] == []
    ((symbology, data),) = (await _reads(ReadScript(travel_s=0, foreign=1.0)))[0]
    assert (symbology, data.decode()) == (FOREIGN_CODE.symbology, FOREIGN_CODE.data)
    ((symbology, data),) = (await _reads(ReadScript(travel_s=0, wrong_product=1.0)))[0]
    assert data.decode() == "01" + WRONG_GTIN + ELEMENT_STRING[16:]
    ((symbology, data),) = (await _reads(ReadScript(travel_s=0, misread=1.0)))[0]
    text = data.decode()
    assert len(text) == len(ELEMENT_STRING)
    assert text[: ELEMENT_STRING.index(GS + "21") + 3] == ELEMENT_STRING[: -len("AB3XKM9PQR")]
    assert sum(a != b for a, b in zip(text, ELEMENT_STRING, strict=True)) == 1
    ((symbology, data),) = (await _reads(ReadScript(travel_s=0, garbage=1.0)))[0]
    assert symbology is None
    assert 1 <= len(data) < 30
    assert b"\r" not in data
    assert b"\n" not in data


async def test_the_counts_add_up() -> None:
    script = ReadScript(travel_s=0, miss=0.2, misread=0.1, garbage=0.1, foreign=0.1,
                        wrong_product=0.1, seed=5)  # fmt: skip
    sent, conveyor = await _reads(script, labels=200)
    stats = conveyor.stats
    assert stats.labels == 200
    assert all(getattr(stats, name) > 0 for name in OUTCOMES)
    assert stats.good + sum(getattr(stats, name) for name in OUTCOMES) == 200
    assert len(sent) == 200 - stats.miss


@given(
    probabilities=st.lists(st.floats(0, 0.2), min_size=len(OUTCOMES), max_size=len(OUTCOMES)),
    seed=st.integers(0, 2**16),
)
def test_in_process_and_on_the_wire_decide_alike(probabilities: list[float], seed: int) -> None:
    miss, misread, garbage, foreign, wrong_product = probabilities
    script = ReadScript(0.0, miss, misread, garbage, foreign, wrong_product, seed)
    in_process = Conveyor.in_process(lambda s, d: None, script)
    on_the_wire = Conveyor.on_the_wire(ZplEngine(), TcpScannerSimulator(), script)
    symbols = [SimCode("]d2", ELEMENT_STRING)]
    for _ in range(30):
        assert in_process.read(symbols) == on_the_wire.read(symbols)
    assert in_process.stats == on_the_wire.stats


def test_the_script_draws_each_outcome_with_its_probability() -> None:
    rng = random.Random(9)
    script = ReadScript(miss=0.25, wrong_product=0.25)
    drawn = [script.choose(rng) for _ in range(4000)]
    assert set(drawn) == {"good", "miss", "wrong_product"}
    assert 800 < drawn.count("wrong_product") < 1200
    with pytest.raises(ValueError, match="wrong_product must be a probability"):
        ReadScript(wrong_product=-0.1)
    with pytest.raises(ValueError, match="travel_s must not be negative"):
        ReadScript(travel_s=-1)


async def test_the_printer_runs_out_of_paper_and_reports_it() -> None:
    carried: list[str] = []
    printer = SimulatedUnitPrinter(lambda label: carried.append(label.serial), paper_out_after=2)
    reports: list[tuple[str | None, AlarmCode]] = []
    printer.watch(lambda fault, code: reports.append((fault, code)))
    await printer.open()
    await printer.print_unit(Label(serial="A"))
    await printer.print_unit(Label(serial="B"))
    with pytest.raises(PrinterFault, match="paper out"):
        await printer.print_unit(Label(serial="C"))
    assert reports == [("paper out", AlarmCode.PAPER_OUT)]
    printer.refill()
    await printer.print_unit(Label(serial="C"))
    assert reports[-1] == (None, AlarmCode.PAPER_OUT)
    assert carried == ["A", "B", "C"]
    assert [label.serial for label in printer.printed] == carried
    await printer.supervise(lambda: True, lambda fault, code: None)  # nothing to poll
    await printer.close()
