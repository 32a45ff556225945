"""``lineside edge run`` as a process on real devices: the ZPL printer simulators (unit and
case labels) and TCP scanner simulators (verify and case scanner) on real ports, coupled like
a conveyor; a work order loaded and started over MQTT; events and the reconciliation report
checked at the real Mosquitto, then the report and the audit trail through the CLI."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.printers.templates import BUILTIN_LABELS
from lineside import contract
from lineside.contract import Topics, WorkOrderAction, WorkOrderCommand
from simulators.printers.engines import ZplEngine
from simulators.printers.server import PrinterSimulator
from simulators.scanners.line import TcpScannerSimulator
from tests.edge.conftest import make_order
from tests.support.broker import Collector, broker_up

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883"),
]

REPO = Path(__file__).resolve().parents[2]
LABELS = BUILTIN_LABELS
GS = "\x1d"
CLI = (sys.executable, "-c", "from app.cli import main; main()")


#: A case label whose GS1 DataMatrix carries the case's SSCC (AI 00), which the case scanner
#: reads back (``_1`` is FNC1 with ``_`` as the escape character), and a GS1-128 of the SSCC
#: at a logistic label's X-dimension and height: the agent preflights it before it starts.
CASE_TEMPLATE = """^XA
^CI28
^PW800^LL560
^FO24,16^A@N,36,36,E:DEJAVU.TTF^FD{{product_name}}^FS
^FO24,70^A@N,24,24,E:DEJAVU.TTF^FD(00) {{extra.sscc}}^FS
^BY4,3,256^FO88,120^BCN,256,N,N,N^FD>;>800{{extra.sscc}}^FS
^FO600,400^BXN,8,200,,,,_^FD_100{{extra.sscc}}^FS
^XZ
"""


def _config(tmp_path: Path, line: str, unit: str, verify: str, case: str, case_scan: str) -> Path:
    (tmp_path / "case-sscc.zpl").write_text(CASE_TEMPLATE)
    path = tmp_path / "line.toml"
    path.write_text(f"""
[line]
site = "factory-1"
line_id = "{line}"
site_gln = "8934567000017"
company_prefix = "8934567"
sscc_range = [5000, 5999]
[broker]
url = "mqtt://127.0.0.1:1883"
keepalive_s = 5
[timing]
verify_window_ms = 3000
case_verify_window_ms = 3000
max_in_flight = 4
allocation_batch = 4
[policy]
max_consecutive_rejects = 50
[outbox]
path = "line.db"
[web]
enabled = false
[labels.templates]
unit = "{LABELS / "unit-60x40.zpl"}"
case = "{tmp_path / "case-sscc.zpl"}"

[[devices]]
kind = "printer"
id = "unit-printer"
role = "unit_printer"
url = "{unit}"

[[devices]]
kind = "scanner"
id = "verify"
role = "verify_scanner"
url = "{verify}"

[[devices]]
kind = "printer"
id = "case-printer"
role = "case_printer"
url = "{case}"

[[devices]]
kind = "scanner"
id = "case-scanner"
role = "case_scanner"
url = "{case_scan}"
""")
    return path


def _send(topics: Topics, command: WorkOrderCommand) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    client.publish(topics.commands, contract.encode(command), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


async def _conveyor(printer: ZplEngine, scanner: TcpScannerSimulator, pattern: str) -> None:
    """Carry every printed label past its scanner: the scanner reads the GS1 data field."""
    seen = 0
    wanted = re.compile(pattern)
    while True:
        for label in printer.printed[seen:]:
            seen += 1
            for value in label.fields:
                data = value.replace("_1", GS).lstrip(GS)
                if wanted.match(data):
                    symbology = "]d2" if pattern.startswith("01") else "]C1"
                    scanner.queue.put_nowait(symbology + data)
                    break
        await asyncio.sleep(0.01)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        timeout=60,
        check=False,
    )


async def test_agent_runs_a_work_order_on_simulated_devices(tmp_path: Path) -> None:
    line = "R" + uuid.uuid4().hex[:8]
    topics = Topics("factory-1", line)
    events = Collector(1883, topics.events)
    reports = Collector(1883, topics.reports)
    status = Collector(1883, topics.status)
    unit_zpl = ZplEngine(ips=200, render_images=False)
    case_zpl = ZplEngine(ips=200, render_images=False)
    tasks: list[asyncio.Task[None]] = []
    agent: subprocess.Popen[bytes] | None = None
    try:
        async with (
            PrinterSimulator(unit_zpl) as unit_sim,
            PrinterSimulator(case_zpl) as case_sim,
            TcpScannerSimulator() as verify_sim,
            TcpScannerSimulator() as case_scan_sim,
        ):
            config = _config(
                tmp_path,
                line,
                f"tcp://127.0.0.1:{unit_sim.port}",
                verify_sim.url,
                f"tcp://127.0.0.1:{case_sim.port}",
                case_scan_sim.url,
            )
            tasks += [
                asyncio.create_task(verify_sim.run_queue()),
                asyncio.create_task(case_scan_sim.run_queue()),
                asyncio.create_task(_conveyor(unit_zpl, verify_sim, r"^01\d{14}")),
                asyncio.create_task(_conveyor(case_zpl, case_scan_sim, r"^00\d{18}")),
            ]
            agent = subprocess.Popen(
                [*CLI, "edge", "run", "--config", str(config)],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            online = await asyncio.to_thread(
                status.wait_for, lambda ms: any(m.get("state") == "online" for m in ms), 20
            )
            if not online:
                agent.kill()
                pytest.fail(f"the agent never came online: {agent.communicate()[1][-2000:]!r}")
            await verify_sim.wait_for_client(10)
            await case_scan_sim.wait_for_client(10)
            order = make_order("WO-R", quantity=24, units_per_case=6)
            for action in (WorkOrderAction.LOAD, WorkOrderAction.START):
                command = WorkOrderCommand(
                    command_id="c" + uuid.uuid4().hex[:8],
                    action=action,
                    work_order_id=order.id,
                    order=order if action is WorkOrderAction.LOAD else None,
                )
                await asyncio.to_thread(_send, topics, command)
            closed = await asyncio.to_thread(reports.wait_for, lambda ms: len(ms) >= 1, 60)
            assert closed, "the work order never closed"
            agent.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(agent.wait, 20) == 0
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait(10)
    assert agent is not None
    _, err = agent.communicate()
    assert b"Traceback" not in err, err.decode(errors="replace")[-2000:]

    report = reports.messages()[0]
    lot = report["lots"][0]
    assert lot["commissioned"] == 24
    assert lot["allocated"] == lot["commissioned"] + lot["rejected"] + lot["voided"]
    assert report["cases"] == 4
    got_all = await asyncio.to_thread(
        events.wait_for,
        lambda ms: sum(m["event"].get("bizStep") == "packing" for m in ms) >= 4,
        20,
    )
    assert got_all
    messages = events.messages()
    commissioned = {
        epc
        for m in messages
        if m["event"].get("bizStep") == "commissioning"
        for epc in m["event"]["epcList"]
    }
    packed = [m["event"] for m in messages if m["event"].get("bizStep") == "packing"]
    assert len(commissioned) == 24
    assert {epc for e in packed for epc in e["childEPCs"]} == commissioned
    # the case labels the case printer printed are the SSCCs packed, from the line's range
    printed_ssccs = [
        m.group(1)
        for label in case_zpl.printed
        for f in label.fields
        if (m := re.fullmatch(r"_100(\d{18})", f))
    ]
    assert sorted(e["parentID"].rsplit("/", 1)[1] for e in packed) == sorted(printed_ssccs)
    assert all(5000 <= int(s[8:17]) <= 5999 for s in printed_ssccs)
    # every commissioned serial was printed by the unit printer
    printed_raw = b"".join(label.raw for label in unit_zpl.printed)
    assert all(epc.rsplit("/", 1)[1].encode() in printed_raw for epc in commissioned)

    shown = _cli("edge", "report", "WO-R", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    assert "BALANCED" in shown.stdout
    audit = _cli("edge", "audit", "--config", str(config), "--verify")
    assert audit.returncode == 0, audit.stderr
    assert "close" in audit.stdout
    assert "chain intact" in audit.stdout
    for collector in (events, reports, status):
        collector.close()
