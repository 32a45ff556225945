"""The agent drives whatever devices it is given (:mod:`edge.line_devices`): the ones its
configuration names, or the in-process simulated line the application layer composes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.simulated_line import SimulationOptions, simulated_line
from edge.agent import Agent
from edge.devices import DriverCasePrinter, DriverUnitPrinter, ScannerReader, open_line_devices
from edge.journal import Journal
from edge.line_devices import PushReader
from edge.scanners.read import ScanRead
from lineside import contract
from lineside.contract import WorkOrderAction, WorkOrderCommand
from lineside.errors import ConfigError
from simulators.line import ReadScript
from tests.edge.conftest import make_config, make_order
from tests.support.broker import broker_up

GTIN_READ = b"0108934567890120" + b"21ABC"


async def test_a_push_reader_stamps_what_it_is_told_and_loses_what_nobody_hears() -> None:
    reader = PushReader("verify-sim")
    reader.transmit("]d2", GTIN_READ)
    assert reader.dropped == 1

    async def scenario() -> list[ScanRead]:
        reads: list[ScanRead] = []
        feeding = asyncio.create_task(reader.feed(reads.append, lambda up, detail: None))
        await asyncio.sleep(0)  # the feed starts listening
        reader.transmit("]d2", GTIN_READ)
        reader.transmit(None, b"\xff")
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
        reader.transmit("]d2", GTIN_READ)  # nobody listens any more
        return reads

    reads = await scenario()
    assert [(r.device_id, r.ok) for r in reads] == [("verify-sim", True), ("verify-sim", False)]
    assert reads[0].result is not None
    assert reads[0].result.message is not None
    assert reads[0].result.message.get("21") == "ABC"
    assert reader.dropped == 2


DEVICES = """
[[devices]]
kind = "printer"
id = "unit"
role = "unit_printer"
url = "tcp://127.0.0.1:9100"
[[devices]]
kind = "scanner"
id = "verify"
role = "verify_scanner"
url = "tcp://127.0.0.1:9200"
"""
CASE_SCANNER = """
[[devices]]
kind = "scanner"
id = "case-scan"
role = "case_scanner"
url = "tcp://127.0.0.1:9201"
"""
CASE_PRINTER = """
[[devices]]
kind = "printer"
id = "case"
role = "case_printer"
url = "tcp://127.0.0.1:9101"
"""
LABELS = """
[labels.templates]
unit = "builtin:unit-60x40.zpl"
case = "builtin:case-100x70.zpl"
"""


def test_the_configured_devices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a unit_printer and a verify_scanner are required"):
        open_line_devices(make_config(tmp_path))
    with pytest.raises(ConfigError, match="a case_scanner needs a case_printer"):
        open_line_devices(make_config(tmp_path, extra=DEVICES + CASE_SCANNER + LABELS))
    plain = open_line_devices(make_config(tmp_path, extra=DEVICES + LABELS))
    assert isinstance(plain.unit_printer, DriverUnitPrinter)
    assert isinstance(plain.verify_reader, ScannerReader)
    assert (plain.case_printer, plain.case_reader) == (None, None)
    full = open_line_devices(
        make_config(tmp_path, extra=DEVICES + CASE_PRINTER + CASE_SCANNER + LABELS)
    )
    assert isinstance(full.case_printer, DriverCasePrinter)
    assert isinstance(full.case_reader, ScannerReader)
    assert full.case_reader.device.id == "case-scan"


def test_the_simulated_line_has_no_case_reader(tmp_path: Path) -> None:
    config = make_config(tmp_path, extra="[web]\nenabled = false\n")
    agent = Agent(config, devices=simulated_line().devices)
    try:
        assert agent.case_verifier is None  # cases are verified by their count
    finally:
        agent.journal.close()


@pytest.mark.mqtt
@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
async def test_the_agent_runs_an_order_on_the_simulated_line(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, line="P" + uuid.uuid4().hex[:8], extra="[web]\nenabled = false\n"
    )
    line = simulated_line(SimulationOptions(ReadScript(travel_s=0.002, miss=0.1, seed=3)))
    agent = Agent(config, devices=line.devices)
    running = asyncio.create_task(agent.run())
    assert await asyncio.to_thread(agent.publisher.wait_connected, 10)
    order = make_order("WO-S", quantity=30, units_per_case=6)
    for action in (WorkOrderAction.LOAD, WorkOrderAction.START):
        command = WorkOrderCommand(
            command_id="c" + uuid.uuid4().hex[:8],
            action=action,
            work_order_id=order.id,
            order=order if action is WorkOrderAction.LOAD else None,
        )
        assert agent.handle_command(contract.encode(command)).ok
    await asyncio.wait_for(agent.engine.wait_closed(), 20)
    agent.request_stop()
    await asyncio.wait_for(running, 20)
    assert agent.exit_code == 0
    journal = Journal.open(config.outbox.path)
    try:
        counts = journal.serials.lot_counts("WO-S")[0]
    finally:
        journal.close()
    stats = line.conveyor.stats
    assert (counts.commissioned, counts.unaccounted) == (30, 0)
    assert stats.miss > 0
    assert counts.rejected == stats.miss  # no read within the window: rejected, printed anew
    printed = [label.serial for label in line.printer.printed]
    assert len(printed) == len(set(printed)) == stats.labels == 30 + stats.miss
    assert len(line.case_printer.printed) == 5


def test_edge_run_refuses_a_simulated_line_that_cannot_be(tmp_path: Path) -> None:
    config = tmp_path / "line.toml"
    config.write_text("not read: the options are checked first")
    result = CliRunner().invoke(
        app,
        ["edge", "run", "--config", str(config), "--simulate", "--miss", "0.7", "--garbage", "0.7"],
    )
    assert result.exit_code == 2
    assert "--simulate: miss + misread + garbage + foreign + wrong_product is 1.4" in result.output
