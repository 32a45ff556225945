"""The operator screen: its API over real HTTP, and the page in a real browser."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from edge.config import hash_pin
from edge.engine import LineEngine
from edge.journal import Journal, SerialState
from edge.line_devices import PushReader
from edge.reject import RecordingReject
from edge.serials import LocalSerialSource, SerialSupply
from edge.verdicts import Phase
from edge.web import create_app
from simulators.line import Conveyor, ReadScript, SimulatedCasePrinter, SimulatedUnitPrinter
from tests.edge.conftest import make_config, make_order
from tests.support.broker import free_port

CHROMIUM = Path("/usr/bin/chromium")


class Screen:
    """An engine on the simulated line and its operator screen, on a thread of their own."""

    def __init__(self, tmp_path: Path) -> None:
        pin_hash = hash_pin("2468", salt=bytes(16))
        self.config = make_config(
            tmp_path, extra=f'\n[[operators]]\nname = "Lan"\npin_hash = "{pin_hash}"\n'
        )
        self.port = free_port()
        self.journal = Journal.open(self.config.outbox.path)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.server: uvicorn.Server | None = None
        self.engine: LineEngine | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        engine: LineEngine
        # a lambda: the engine is created below, after the reader it reads from
        reader = PushReader("verify-sim", deliver=lambda r: engine.on_read(r))  # noqa: PLW0108
        conveyor = Conveyor.in_process(reader.transmit, ReadScript(travel_s=0.01))
        printer = SimulatedUnitPrinter(conveyor.carry, print_s=0.02)
        supply = SerialSupply(self.journal, [LocalSerialSource()], low_water=16, block=64)
        engine = LineEngine(
            self.config,
            self.journal,
            printer=printer,
            reject=RecordingReject(),
            supply=supply,
            case_printer=SimulatedCasePrinter(),
            auto_close=False,
        )
        self.engine = engine
        engine.load(make_order(quantity=40, units_per_case=10))
        app = create_app(engine, self.config)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        runner = asyncio.create_task(engine.run())
        serve = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        self.ready.set()
        await serve
        await engine.stop()
        await runner

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def screen(tmp_path: Path) -> Iterator[Screen]:
    s = Screen(tmp_path)
    s.thread.start()
    assert s.ready.wait(10)
    yield s
    s.stop()


def _wait(predicate: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_api_start_void_needs_pin_and_close(screen: Screen) -> None:
    with httpx.Client(base_url=screen.url, timeout=10) as client:
        assert client.get("/api/state").json()["phase"] == "loaded"
        assert client.post("/api/start").json()["phase"] == "running"
        _wait(lambda: client.get("/api/state").json()["counters"]["verified"] >= 3)
        serial = screen.journal.serials.in_state("WO-1", SerialState.COMMISSIONED)[0]
        bad = client.post("/api/void", json={"serial": serial, "reason": "rách", "pin": "1111"})
        assert bad.status_code == 403
        ok = client.post("/api/void", json={"serial": serial, "reason": "rách", "pin": "2468"})
        assert ok.status_code == 200
        assert ok.json()["counters"]["voided"] == 1
        unknown = client.post("/api/void", json={"serial": "NOPE", "reason": "x", "pin": "2468"})
        assert unknown.status_code == 409
        assert "never issued" in unknown.json()["detail"]
        closed = client.post("/api/close", timeout=20).json()
        assert closed["phase"] == "idle"
    assert screen.engine is not None
    assert screen.engine.phase is Phase.IDLE
    lots = screen.journal.serials.lot_counts("WO-1")
    assert lots[0].unaccounted == 0
    trail = screen.journal.audit.records()
    assert [(a.actor, a.action) for a in trail] == [("Lan", "void"), ("screen", "close")]
    assert trail[0].target == f"serial:{serial}"
    assert trail[0].details == {"was": "commissioned"}
    assert screen.journal.audit.verify() == []


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")
def test_page_in_a_browser_vietnamese_live_counts_and_pause(screen: Screen) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(screen.url + "/")
            expect(page.locator("header")).to_contain_text("Màn hình vận hành dây chuyền")
            expect(page.locator("#order")).to_contain_text("Miến dong Côn Minh")
            page.click("#btn-start")
            expect(page.locator("#phase")).to_contain_text("Đang chạy")
            page.wait_for_function("Number(document.getElementById('c-verified').textContent) >= 5")
            page.click("#btn-pause")
            expect(page.locator("#phase")).to_contain_text("Tạm dừng")
            page.fill("#f-serial", "NOPE")
            page.fill("#f-reason", "thử")
            page.fill("#f-pin", "0000")
            page.click("#btn-void")
            expect(page.locator("#message")).to_contain_text("wrong PIN")
            english = browser.new_page()
            english.goto(screen.url + "/?lang=en")
            expect(english.locator("#phase")).to_contain_text("Paused")
            expect(english.locator("#order")).to_contain_text("Arrowroot noodles")
        finally:
            browser.close()
