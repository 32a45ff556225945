"""Print quality on the line: a grading camera grades every read; a unit graded below the
configured grade is rejected ("print quality"); the rolling grade warns on a trend toward C
and shows on the operator screen and in the line status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zxingcpp

from edge.journal import SerialState
from edge.quality import PrintQuality
from edge.scanners.camera import CameraScanner, ZxingDecoder
from edge.scanners.read import ReadStamper, ScannerState
from edge.scanners.urls import parse_scanner_url
from edge.verdicts import (
    Commission,
    RaiseAlarm,
    Reject,
    ScannedCode,
    ShowRead,
    VerdictMachine,
    VerdictPolicy,
)
from lineside.contract import AlarmCode, Severity
from lineside.errors import ConfigError
from simulators.scanners.camera import SimulatedFrameSource
from tests.edge.conftest import GTIN, make_order
from tests.edge.simline import SimulatedLine
from tests.scanners.conftest import collect, no_thread_leak, reads_of

__all__ = ["no_thread_leak"]


def _machine(min_grade: str | None) -> VerdictMachine:
    machine = VerdictMachine(VerdictPolicy(verify_window_s=0.3, min_print_grade=min_grade))
    order = make_order()
    machine.load(order, closed=False)
    machine.start()
    for serial in ("S1", "S2"):
        machine.sent(serial)
        machine.printed(serial, 0.0)
    return machine


def _code(serial: str, grade: str) -> ScannedCode:
    return ScannedCode("]d2…", GTIN, serial, None, grade, "modulation")


def test_a_unit_graded_below_the_minimum_is_rejected() -> None:
    machine = _machine("C")
    assert machine.read(_code("S1", "B"), SerialState.SENT, 0.1)[0] == Commission("S1")
    assert machine.read(_code("S2", "D"), SerialState.SENT, 0.1) == [
        Reject("S2", "print quality: grade D (modulation)"),
        ShowRead("]d2…", "print quality"),
    ]


def test_without_a_minimum_grades_are_only_shown() -> None:
    machine = _machine(None)
    assert machine.read(_code("S1", "F"), SerialState.SENT, 0.1)[0] == Commission("S1")


def test_rolling_grade_warns_toward_c_and_clears() -> None:
    quality = PrintQuality(window=5)
    assert quality.snapshot() is None
    decisions = [d for g in "AAAABCCCC" for d in quality.add(g)]
    assert len(decisions) == 1
    warning = decisions[0]
    assert isinstance(warning, RaiseAlarm)
    assert (warning.code, warning.severity, warning.cleared) == (
        AlarmCode.PRINT_QUALITY,
        Severity.WARNING,
        False,
    )
    assert quality.snapshot() == {
        "grade": "C",
        "score": 2.2,
        "samples": 5,
        "last": "C",
        "warning": True,
    }
    cleared = [d for g in "AAAAA" for d in quality.add(g)]
    assert [d.cleared for d in cleared if isinstance(d, RaiseAlarm)] == [True]
    assert quality.grade == "A"


async def test_engine_rejects_poor_prints_and_publishes_the_rolling_grade(
    tmp_path: Path,
) -> None:
    line = SimulatedLine(tmp_path)
    line.engine.config = line.config.model_copy(
        update={
            "policy": line.config.policy.model_copy(
                update={"min_print_grade": "C", "print_quality_window": 2}
            )
        }
    )
    line.engine.quality = PrintQuality(window=2)
    order = make_order(quantity=2, units_per_case=2)
    line.engine.load(order)
    stamper = ReadStamper("cam")
    for serial, grade in (("S1", "B"), ("S2", "D")):
        line.journal.serials.add_to_reserve([serial], source="test", gtin=GTIN)
        line.journal.serials.allocate(1, work_order=order.id, gtin=GTIN, lot=order.lot)
        line.journal.serials.transition(serial, SerialState.SENT)
        line.engine.machine.sent(serial)
        line.engine.machine.printed(serial, 0.0)
        data = f"01{GTIN}21{serial}".encode()
        read = replace(stamper.payload("]d2", data), grade=grade, grade_parameter="modulation")
        line.engine.on_read(read)
    line.engine.flush()
    assert line.journal.serials.state_of("S1") is SerialState.COMMISSIONED
    assert line.journal.serials.state_of("S2") is SerialState.REJECTED
    assert line.engine.status().print_grade == "C"
    shown = line.engine.quality.snapshot()
    assert shown is not None
    assert shown["grade"] == "C"
    assert shown["warning"] is True
    assert any(a.code is AlarmCode.PRINT_QUALITY for a in line.engine.alarms)


def _frames() -> list[np.ndarray]:
    symbol = zxingcpp.create_barcode(
        "(01)08934567890120(21)Ab3xK9", zxingcpp.BarcodeFormat.DataMatrix, gs1=True
    )
    frame = np.asarray(symbol.to_image(scale=8, add_quiet_zones=True))
    frame = np.pad(frame, 40, constant_values=255)
    return [frame, frame, np.full_like(frame, 255)]


@pytest.mark.usefixtures("no_thread_leak")
async def test_grading_camera_reads_carry_their_grade() -> None:
    scanner = CameraScanner(
        "cam-1",
        "camera://sim?grade=1",
        lambda: SimulatedFrameSource(_frames()),
        decoder_factory=lambda: ZxingDecoder(grade=True),
    )
    events = await collect(
        scanner.events(),
        lambda s: any(getattr(e, "state", None) is ScannerState.ENDED for e in s),
    )
    reads = reads_of(events)
    assert len(reads) == 1  # the same code in two frames is one read
    assert (reads[0].grade, reads[0].grade_parameter) == ("A", "symbol_contrast")


def test_grade_option_of_camera_urls() -> None:
    spec = parse_scanner_url("camera://0?grade=1")
    assert getattr(spec, "grade", None) is True
    assert getattr(parse_scanner_url("camera://0"), "grade", None) is False
    with pytest.raises(ConfigError, match="grade=1 needs the zxing decoder"):
        parse_scanner_url("camera://0?grade=1&decoder=pyzbar")


def test_a_symbol_in_view_is_graded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge.scanners import grading

    calls: list[int] = []
    real = grading.grade_reads

    def counting(image: object, reads: list[object]) -> list[grading.SymbolGrade]:
        calls.append(len(reads))
        return real(image, reads)  # type: ignore[arg-type]

    monkeypatch.setattr(grading, "grade_reads", counting)
    decoder = ZxingDecoder(grade=True)
    frame, _, blank = _frames()
    seen = [decoder.decode(f) for f in (frame, frame, blank, frame)]
    assert [[s.grade for s in symbols] for symbols in seen] == [["A"], ["A"], [], ["A"]]
    assert calls == [1, 1]  # graded when it came into view, and again after it left
