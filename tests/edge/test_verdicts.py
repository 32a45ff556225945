"""The verdict machine on its own: events in, decisions out; no event loop, no journal."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.journal import SerialState
from edge.scanners.read import ReadStamper
from edge.verdicts import (
    SCANNER_OFFLINE,
    AwaitRead,
    Commission,
    Decision,
    EngineError,
    Forget,
    Loaded,
    Next,
    PackCase,
    Pause,
    Phase,
    RaiseAlarm,
    Reject,
    Run,
    ScannedCode,
    ShowRead,
    StrayRead,
    VerdictMachine,
    VerdictPolicy,
)
from lineside.contract import AlarmCode, ProductInfo, Severity, WorkOrder

GTIN = "08934567890120"
OTHER_GTIN = "08934567890007"
WINDOW = 0.3


def order(quantity: int = 20, units_per_case: int = 6, order_id: str = "WO-1") -> WorkOrder:
    return WorkOrder(
        id=order_id,
        product=ProductInfo(gtin=GTIN, name_vi="Miến dong"),
        lot="LOT-7",
        production_date=date(2026, 11, 1),
        quantity=quantity,
        units_per_case=units_per_case,
    )


def running(
    quantity: int = 20,
    units_per_case: int = 6,
    *,
    max_consecutive_rejects: int = 4,
    scanner_silent_after: int = 3,
) -> VerdictMachine:
    """A line running a work order, with the limits of ``tests.edge.conftest.make_config``."""
    policy = VerdictPolicy(
        verify_window_s=WINDOW,
        max_in_flight=8,
        allocation_batch=4,
        max_consecutive_rejects=max_consecutive_rejects,
        scanner_silent_after=scanner_silent_after,
        broker_alarm_after_s=30.0,
    )
    machine = VerdictMachine(policy)
    machine.load(order(quantity, units_per_case), closed=False)
    machine.start()
    return machine


def printed(machine: VerdictMachine, *serials: str, at: float = 0.0) -> None:
    for serial in serials:
        machine.sent(serial)
        assert machine.printed(serial, at) == [AwaitRead(serial, WINDOW)]


def code(serial: str | None, gtin: str | None = GTIN, text: str = "]d2…") -> ScannedCode:
    return ScannedCode(text, gtin=gtin, serial=serial)


GARBAGE = ScannedCode("%%é", problem="unreadable: no symbology identifier")


def verdicts(decisions: list[Decision]) -> list[Commission | Reject]:
    return [d for d in decisions if isinstance(d, Commission | Reject)]


# -- reads -----------------------------------------------------------------------------------


def test_a_read_commissions_the_unit_it_names_whatever_the_order() -> None:
    line = running()
    printed(line, "S1", "S2", "S3")
    assert line.read(code("S2"), SerialState.SENT, now=0.1) == [
        Commission("S2"),
        ShowRead("]d2…", "ok"),
    ]
    assert line.read(code("S1"), SerialState.SENT, now=0.1)[0] == Commission("S1")
    assert line.in_flight == 1
    assert (line.counters.commissioned, line.counters.rejected) == (2, 0)


def test_garbage_rejects_the_oldest_unit_waiting() -> None:
    line = running()
    printed(line, "S1", "S2")
    assert line.read(GARBAGE, None, now=0.1) == [
        ShowRead("%%é", "unreadable: no symbology identifier"),
        Reject("S1", "unreadable: no symbology identifier"),
    ]
    assert line.awaits("S2")
    assert not line.awaits("S1")


def test_a_code_without_a_serial_is_the_wrong_code() -> None:
    line = running()
    printed(line, "S1")
    decisions = line.read(code(None), None, now=0.1)
    assert verdicts(decisions) == [Reject("S1", "wrong code: not a serialised GS1 unit code")]


def test_a_foreign_code_rejects_the_oldest_unit() -> None:
    line = running()
    printed(line, "S1", "S2")
    decisions = line.read(code("FOREIGN1"), None, now=0.1)
    assert verdicts(decisions) == [Reject("S1", "foreign code: serial not issued on this line")]


def test_the_wrong_product_on_a_unit_in_flight_rejects_that_unit() -> None:
    line = running()
    printed(line, "S1", "S2")
    decisions = line.read(code("S2", gtin=OTHER_GTIN), SerialState.SENT, now=0.1)
    assert decisions == [
        Reject("S2", f"wrong product: GTIN {OTHER_GTIN}"),
        ShowRead("]d2…", "wrong product"),
    ]


def test_the_wrong_product_of_another_serial_rejects_the_oldest_unit() -> None:
    line = running()
    printed(line, "S1")
    decisions = line.read(code("X9", gtin=OTHER_GTIN), None, now=0.1)
    assert verdicts(decisions) == [
        Reject("S1", f"wrong product: GTIN {OTHER_GTIN}, expected {GTIN}")
    ]


def test_a_label_seen_again_in_view_is_a_re_read_and_later_a_duplicate() -> None:
    line = running()
    printed(line, "S1", "S2")
    line.read(code("S1"), SerialState.SENT, now=1.0)
    again = line.read(code("S1"), SerialState.COMMISSIONED, now=1.0 + WINDOW / 2)
    assert again == [ShowRead("]d2…", "re-read")]
    assert line.awaits("S2")
    later = line.read(code("S1"), SerialState.COMMISSIONED, now=1.0 + WINDOW * 2)
    assert verdicts(later) == [Reject("S2", "duplicate: serial already commissioned")]


def test_a_read_before_the_print_confirmation_waits_for_it() -> None:
    line = running()
    printed(line, "S1")
    line.sent("S2")
    # A printer with labels in its buffer confirms S2 a moment after it came out.
    assert line.read(code("S2"), SerialState.SENT, now=0.1) == []
    assert line.read(code("S2"), SerialState.SENT, now=0.11) == [ShowRead("]d2…", "re-read")]
    assert line.counters.commissioned == 0
    assert line.awaits("S1")
    decisions = line.printed("S2", now=0.12)
    assert decisions[0] == AwaitRead("S2", WINDOW)
    assert verdicts(decisions) == [Commission("S2")]
    assert line.counters.commissioned == 1
    assert line.awaits("S1")
    assert not line.awaits("S2")
    assert line.timeout("S2") == []


def test_a_read_before_a_print_that_fails_is_dropped_and_the_unit_rejected() -> None:
    line = running()
    line.sent("S1")
    assert line.read(code("S1"), SerialState.SENT, now=0.1) == []
    decisions = line.print_failed("S1", "paper_out", AlarmCode.PAPER_OUT)
    assert verdicts(decisions) == [Reject("S1", "printer fault: paper_out")]
    assert line.counters.commissioned == 0
    # The label printed after all and comes by again: a duplicate, with no unit waiting.
    again = line.read(code("S1"), SerialState.REJECTED, now=0.2)
    assert verdicts(again) == []
    assert any(isinstance(d, StrayRead) for d in again)


def test_a_bad_read_with_no_unit_waiting_is_a_stray_read() -> None:
    line = running()
    assert line.read(GARBAGE, None, now=0.1) == [
        ShowRead("%%é", "unreadable: no symbology identifier"),
        StrayRead("unreadable: no symbology identifier", "%%é"),
    ]
    assert line.counters.stray_reads == 1
    assert line.counters.rejected == 0


def test_a_read_without_a_work_order_is_only_shown() -> None:
    line = VerdictMachine(VerdictPolicy())
    assert line.read(code("S1"), None, now=0.0) == [ShowRead("]d2…", "no work order")]
    assert line.counters.stray_reads == 1


def test_scanned_code_of_a_scanner_read() -> None:
    stamper = ReadStamper("verify")
    good = stamper.payload("]d2", b"01" + GTIN.encode() + b"21S1")
    assert ScannedCode.of(good) == ScannedCode("]d201" + GTIN + "21S1", gtin=GTIN, serial="S1")
    no_serial = ScannedCode.of(stamper.payload("]d2", b"01" + GTIN.encode()))
    assert (no_serial.gtin, no_serial.serial, no_serial.problem) == (GTIN, None, None)
    bad = ScannedCode.of(stamper.payload("]d2", b"garbage"))
    assert bad.problem == (
        "unreadable: scan data (]d2 GS1 DataMatrix): element string: "
        "no known AI at position 1 ('garb')"
    )


# -- timeouts, rejects in a row, a silent scanner -------------------------------------------


def test_no_read_within_the_window_rejects_the_unit() -> None:
    line = running()
    printed(line, "S1")
    assert line.timeout("S1") == [Reject("S1", "no read within the verify window")]
    assert line.timeout("S1") == []  # already judged: a late timer changes nothing


def test_a_timeout_after_the_verdict_changes_nothing() -> None:
    line = running()
    printed(line, "S1")
    line.read(code("S1"), SerialState.SENT, now=0.1)
    assert line.timeout("S1") == []
    assert line.counters.rejected == 0


def test_a_silent_scanner_alarms_once_then_clears_on_the_next_read() -> None:
    line = running(max_consecutive_rejects=10)
    printed(line, "S1", "S2", "S3", "S4")
    alarms = [d for s in ("S1", "S2", "S3", "S4") for d in line.timeout(s)]
    silent = [a for a in alarms if isinstance(a, RaiseAlarm)]
    assert silent == [
        RaiseAlarm(
            AlarmCode.SCANNER_SILENT,
            Severity.WARNING,
            "verify scanner connected but no read at all for 3 units in a row",
        )
    ]
    cleared = line.read(GARBAGE, None, now=1.0)[0]
    assert cleared == RaiseAlarm(
        AlarmCode.SCANNER_SILENT, Severity.INFO, "verify scanner reads again", cleared=True
    )


def test_too_many_rejects_in_a_row_pause_and_resuming_is_an_override() -> None:
    line = running(scanner_silent_after=10)
    printed(line, "S1", "S2", "S3", "S4", "S5")
    for serial in ("S1", "S2", "S3"):
        assert line.timeout(serial) == [Reject(serial, "no read within the verify window")]
    assert line.timeout("S4") == [
        Reject("S4", "no read within the verify window"),
        RaiseAlarm(
            AlarmCode.TOO_MANY_REJECTS,
            Severity.CRITICAL,
            "4 rejects in a row (last: no read within the verify window)",
        ),
        Pause("too many rejects"),
    ]
    assert (line.phase, line.pause_reason) == (Phase.PAUSED, "too many rejects")
    assert verdicts(line.timeout("S5")) == [Reject("S5", "no read within the verify window")]
    assert line.start(operator="Lan") == [Run("too many rejects", "Lan")]


def test_a_commission_resets_the_run_of_rejects() -> None:
    line = running(scanner_silent_after=10)
    printed(line, "S1", "S2", "S3", "S4", "S5")
    for serial in ("S1", "S2", "S3"):
        line.timeout(serial)
    line.read(code("S4"), SerialState.SENT, now=0.1)
    assert line.timeout("S5") == [Reject("S5", "no read within the verify window")]
    assert line.phase is Phase.RUNNING


# -- printing --------------------------------------------------------------------------------


def test_next_step_follows_the_work_order() -> None:
    line = VerdictMachine(VerdictPolicy(WINDOW, max_in_flight=2, allocation_batch=4))
    assert line.next_step() is Next.WAIT_FOR_START
    line.load(order(quantity=3), closed=False)
    assert line.next_step() is Next.WAIT_FOR_START
    line.start()
    assert (line.next_step(), line.batch_size()) == (Next.PRINT, 2)
    printed(line, "S1", "S2")
    assert line.next_step() is Next.WAIT_FOR_VERDICTS  # two in flight, no room
    line.read(code("S1"), SerialState.SENT, now=0.1)
    line.read(code("S2"), SerialState.SENT, now=0.1)
    assert (line.next_step(), line.batch_size()) == (Next.PRINT, 1)
    printed(line, "S3")
    assert line.next_step() is Next.WAIT_FOR_VERDICTS  # the quantity is in flight
    line.read(code("S3"), SerialState.SENT, now=0.1)
    assert line.next_step() is Next.DONE


def test_a_batch_interrupted_by_a_pause_rejects_its_unprinted_units() -> None:
    line = running()
    line.sent("S1")
    line.sent("S2")
    assert line.before_print("S1", first=True) == []
    line.pause("operator")
    assert line.before_print("S1", first=True) == []  # the first of a batch still prints
    assert line.before_print("S2", first=False) == [Reject("S2", "not printed: line paused")]


def test_a_printer_fault_rejects_the_label_and_pauses_until_the_printer_is_ready() -> None:
    line = running()
    line.sent("S1")
    assert line.print_failed("S1", "paper out", AlarmCode.PAPER_OUT) == [
        Reject("S1", "printer fault: paper out"),
        RaiseAlarm(AlarmCode.PAPER_OUT, Severity.CRITICAL, "unit printer: paper out"),
        Pause("printer: paper out"),
    ]
    assert line.printer_status("head open", AlarmCode.HEAD_OPEN) == []  # one fault at a time
    with pytest.raises(EngineError, match="printer not ready: paper out"):
        line.start()
    assert line.printer_status(None, AlarmCode.PAPER_OUT) == [
        RaiseAlarm(AlarmCode.PAPER_OUT, Severity.INFO, "unit printer ready", cleared=True),
        Run(cause="unit printer ready again"),
    ]
    assert line.phase is Phase.RUNNING


def test_printer_and_scanner_faults_resume_only_when_both_clear() -> None:
    line = running()
    line.scanner_status(False, "unplugged")
    line.printer_status("paper out", AlarmCode.PAPER_OUT)
    assert verdicts(line.scanner_status(True, "")) == []
    assert (line.phase, line.pause_reason) == (Phase.PAUSED, "printer: paper out")
    line.scanner_status(False, "unplugged again")
    assert line.printer_status(None, AlarmCode.PAPER_OUT) == [
        RaiseAlarm(AlarmCode.PAPER_OUT, Severity.INFO, "unit printer ready", cleared=True)
    ]
    assert line.pause_reason == SCANNER_OFFLINE
    assert line.scanner_status(True, "") == [
        RaiseAlarm(
            AlarmCode.SCANNER_OFFLINE, Severity.INFO, "verify scanner connected", cleared=True
        ),
        Run(cause="verify scanner back"),
    ]


def test_a_scanner_offline_pauses_once_and_refuses_a_start() -> None:
    line = running()
    assert line.scanner_status(False, "connection reset") == [
        RaiseAlarm(
            AlarmCode.SCANNER_OFFLINE,
            Severity.CRITICAL,
            "verify scanner offline: connection reset",
        ),
        Pause(SCANNER_OFFLINE),
    ]
    assert line.scanner_status(False, "still down") == []
    with pytest.raises(EngineError, match="verify scanner offline: connection reset"):
        line.start()


def test_the_broker_alarm_rises_past_its_threshold_and_clears_once() -> None:
    line = running()  # the broker alarm comes after 30 s
    assert line.broker(12.0) == []
    assert [d.severity for d in line.broker(31.0) if isinstance(d, RaiseAlarm)] == [
        Severity.WARNING
    ]
    assert line.broker(45.0) == []
    cleared = line.broker(0.0)
    assert [(d.code, d.cleared) for d in cleared if isinstance(d, RaiseAlarm)] == [
        (AlarmCode.BROKER_UNREACHABLE, True)
    ]
    assert len(cleared) == 1
    assert line.phase is Phase.RUNNING


def test_a_full_outbox_pauses_and_resumes_the_line() -> None:
    line = running()
    nearly = line.outbox_usage(nearly_full=True, full=False, nearly_full_shown=False)
    assert [d.code for d in nearly if isinstance(d, RaiseAlarm)] == [AlarmCode.OUTBOX_NEARLY_FULL]
    assert line.outbox_usage(nearly_full=True, full=False, nearly_full_shown=True) == []
    full = line.outbox_usage(nearly_full=True, full=True, nearly_full_shown=True)
    assert full[-1] == Pause("outbox full")
    assert line.outbox_usage(nearly_full=False, full=False, nearly_full_shown=True) == [Run()]


# -- work orders, cases, operators, failures -------------------------------------------------


def test_loading_a_second_order_while_one_is_open_is_refused() -> None:
    line = VerdictMachine(VerdictPolicy())
    first = order()
    assert line.load(first, closed=False) == [Loaded(first)]
    assert line.load(first, closed=False) == []  # the same order again: nothing to do
    with pytest.raises(EngineError, match="work order 'WO-1' is loaded; close it"):
        line.load(order(order_id="WO-2"), closed=False)
    line.closing()
    line.closed()
    with pytest.raises(EngineError, match="work order 'WO-2' is already closed"):
        line.load(order(order_id="WO-2"), closed=True)


def test_a_start_without_a_work_order_is_refused() -> None:
    line = VerdictMachine(VerdictPolicy())
    with pytest.raises(EngineError, match="no work order is loaded"):
        line.start()
    with pytest.raises(EngineError, match="no work order is loaded"):
        line.closing()


def test_a_full_case_is_packed_and_an_unverified_one_waits_for_the_next() -> None:
    line = running(units_per_case=2)
    printed(line, "S1", "S2", "S3")
    assert line.read(code("S1"), SerialState.SENT, now=0.1)[:1] == [Commission("S1")]
    decisions = line.read(code("S2"), SerialState.SENT, now=0.1)
    assert PackCase(("S1", "S2")) in decisions
    assert not line.case_members
    line.read(code("S3"), SerialState.SENT, now=0.1)
    assert line.case_not_packed(["S1", "S2"], "") == [
        RaiseAlarm(
            AlarmCode.SCANNER_SILENT,
            Severity.CRITICAL,
            "case of 2 units not packed: label not verified; "
            "the units stay to be packed in the next case",
        ),
        Pause("case label not verified"),
    ]
    assert line.case_members == ("S1", "S2", "S3")
    assert line.take_case(2) == ["S1", "S2"]
    assert line.start(operator="Lan") == [Run("case label not verified", "Lan")]


def test_voiding_a_unit_in_flight_forgets_it_and_a_commissioned_one_leaves_its_case() -> None:
    line = running()
    printed(line, "S1", "S2")
    line.read(code("S1"), SerialState.SENT, now=0.1)
    assert line.forget("S2") == [Forget("S2")]
    assert line.forget("S1") == []  # not in flight any more
    line.voided("S1", SerialState.COMMISSIONED)
    assert not line.case_members
    assert (line.counters.commissioned, line.counters.voided) == (0, 1)
    assert line.timeout("S2") == []


def test_after_a_journal_failure_reads_are_ignored_and_nothing_starts() -> None:
    line = running()
    printed(line, "S1")
    line.fail("line journal cannot be written (disk full)")
    assert line.in_flight == 0
    assert line.read(code("S1"), SerialState.SENT, now=0.1) == []
    with pytest.raises(EngineError, match="cannot be written"):
        line.start()


# -- a property: every unit printed gets exactly one verdict --------------------------------

EVENTS = st.lists(
    st.one_of(
        st.just(("print", 0)),
        st.tuples(st.just("read"), st.integers(0, 30)),
        st.tuples(st.just("timeout"), st.integers(0, 30)),
        st.just(("garbage", 0)),
        st.just(("foreign", 0)),
    ),
    max_size=80,
)


@given(EVENTS)
def test_every_unit_printed_gets_exactly_one_verdict(events: list[tuple[str, int]]) -> None:
    line = running(quantity=1000, units_per_case=5, max_consecutive_rejects=1000)
    printed_serials: list[str] = []
    judged: list[str] = []
    clock = 0.0
    for kind, index in events:
        clock += 0.01
        decisions: list[Decision] = []
        if kind == "print" and line.next_step() is Next.PRINT:
            serial = f"S{len(printed_serials)}"
            line.sent(serial)
            decisions = line.printed(serial, clock)
            printed_serials.append(serial)
        elif kind in ("read", "timeout") and printed_serials:
            serial = printed_serials[index % len(printed_serials)]
            if kind == "read":
                # What the journal would say; its exact final state does not matter here.
                known = SerialState.SENT if line.awaits(serial) else SerialState.COMMISSIONED
                decisions = line.read(code(serial), known, clock)
            else:
                decisions = line.timeout(serial)
        elif kind == "garbage":
            decisions = line.read(GARBAGE, None, clock)
        elif kind == "foreign":
            decisions = line.read(code("FOREIGN"), None, clock)
        judged += [d.serial for d in verdicts(decisions)]
    for serial in printed_serials:  # every verify window ends
        judged += [d.serial for d in verdicts(line.timeout(serial))]
    assert sorted(judged) == sorted(printed_serials)
    assert line.counters.commissioned + line.counters.rejected == len(printed_serials)
    assert line.in_flight == 0


def test_the_rate_counts_the_units_commissioned_in_the_last_minute() -> None:
    line = running(quantity=1000, units_per_case=1000)
    for n in range(6):
        serial = f"S{n}"
        printed(line, serial, at=100.0 + 10 * n)
        line.read(code(serial), SerialState.SENT, now=100.5 + 10 * n)  # 100.5 ... 150.5
    assert line.rate_per_minute(151.0) == 6.0
    assert line.rate_per_minute(161.0) == 5.0  # the first, at 100.5, is over a minute ago
    assert line.rate_per_minute(300.0) == 0.0
