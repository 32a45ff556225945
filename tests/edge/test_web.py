"""The operator screen: its API over real HTTP, and the page in a real browser."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
from lineside.contract import AlarmCode
from simulators.line import Conveyor, ReadScript, SimulatedCasePrinter, SimulatedUnitPrinter
from tests.edge.conftest import make_config, make_order
from tests.support.broker import free_port
from tests.support.waiting import wait_until

CHROMIUM = Path("/usr/bin/chromium")
LINE_NAME = "Dây chuyền miến số 1"
PIN = "2468"

#: Words that must not appear on the Vietnamese screen (what the engine used to show).
ENGLISH = re.compile(
    r"\b(the|and|printer|paper|scanner|alarm|alarms|error|wrong|order|loaded|running|paused|"
    r"start|pause|close|void|reprint|reject|rejected|read|reads|serial|reason|critical|"
    r"warning|unit|units|verified|printed|cases|broker|server|outbox|connected|offline|"
    r"idle|none|ready|shift|lot|quantity|expiry|speed|target|history|cancel|confirm)\b",
    re.IGNORECASE,
)


class Screen:
    """An engine on the simulated line and its operator screen, on a thread of their own."""

    def __init__(self, tmp_path: Path) -> None:
        pin_hash = hash_pin(PIN, salt=bytes(16))
        config = make_config(
            tmp_path, extra=f'\n[[operators]]\nname = "Lan"\npin_hash = "{pin_hash}"\n'
        )
        line = config.line.model_copy(update={"name": LINE_NAME})
        self.config = config.model_copy(update={"line": line})
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

    def on_loop(self, step: Callable[[LineEngine], Any]) -> Any:
        """Run ``step(engine)`` on the engine's loop and return its result."""
        done: Future[Any] = Future()

        def call() -> None:
            assert self.engine is not None
            done.set_result(step(self.engine))

        self.loop.call_soon_threadsafe(call)
        return done.result(10)

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


def test_api_actions_need_a_pin_and_a_reason_and_are_audited(screen: Screen) -> None:
    with httpx.Client(base_url=screen.url, timeout=10) as client:
        state = client.get("/api/state").json()
        assert state["phase"] == "loaded"
        assert state["line"] == {
            "id": "L1",
            "site": "factory-1",
            "name": LINE_NAME,
            "timezone": "Asia/Ho_Chi_Minh",
        }
        page = client.get("/")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/static/hmi.js").status_code == 200
        assert client.post("/api/start", json={}).json()["code"] == "invalid_input"
        wrong = client.post("/api/start", json={"pin": "1111"})
        assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_pin")
        signed = client.post("/api/shift/sign-in", json={"pin": PIN}).json()
        assert signed["shift"]["operator"] == "Lan"
        assert client.post("/api/start", json={"pin": PIN}).json()["phase"] == "running"
        wait_until(lambda: client.get("/api/state").json()["counters"]["verified"] >= 3, "reads")
        state = client.get("/api/state").json()
        read = state["last_reads"][0]
        assert (read["gtin"], read["lot"], read["verdict"]["code"]) == (
            "08934567890120",
            "LOT-7",
            "ok",
        )
        assert read["serial"]
        assert "\x1d" not in str(read)
        assert state["work_order"]["remaining"] == 40 - state["counters"]["verified"]
        serial = screen.journal.serials.in_state("WO-1", SerialState.COMMISSIONED)[0]
        bad = client.post("/api/void", json={"serial": serial, "reason": "rách", "pin": "1111"})
        assert bad.status_code == 403
        ok = client.post("/api/void", json={"serial": serial, "reason": "rách", "pin": PIN})
        assert ok.status_code == 200
        assert ok.json()["counters"]["voided"] == 1
        unknown = client.post("/api/void", json={"serial": "NOPE", "reason": "x", "pin": PIN})
        assert unknown.status_code == 409
        assert "never issued" in unknown.json()["detail"]
        assert unknown.json()["code"] == "serial_unknown"
        no_reason = client.post("/api/pause", json={"pin": PIN, "reason": " "})
        assert (no_reason.status_code, no_reason.json()["code"]) == (422, "reason_required")
        paused = client.post("/api/pause", json={"pin": PIN, "reason": "hết nguyên liệu"}).json()
        assert paused["pause"] == {
            "code": "paused_by_operator",
            "params": {"text": "hết nguyên liệu"},
        }
        assert client.post("/api/close", json={"pin": PIN}).status_code == 422
        closed = client.post("/api/close", json={"pin": PIN, "reason": "đủ"}, timeout=20).json()
        assert closed["phase"] == "idle"
        idle = client.post("/api/pause", json={"pin": PIN, "reason": "thử"})
        assert (idle.status_code, idle.json()["code"]) == (409, "not_running")
        assert client.post("/api/shift/sign-out", json={}).status_code == 422
        ended = client.post("/api/shift/sign-out", json={"pin": PIN}).json()
        assert ended["shift"]["operator"] is None
    assert screen.engine is not None
    assert screen.engine.phase is Phase.IDLE
    lots = screen.journal.serials.lot_counts("WO-1")
    assert lots[0].unaccounted == 0
    trail = screen.journal.audit.records()
    assert [(a.actor, a.action) for a in trail] == [
        ("Lan", "sign_in"),
        ("Lan", "start"),
        ("Lan", "void"),
        ("Lan", "pause"),
        ("Lan", "close_requested"),
        ("Lan", "close"),
        ("Lan", "sign_out"),
    ]
    assert trail[2].target == f"serial:{serial}"
    assert trail[2].details == {"was": "commissioned"}
    assert screen.journal.audit.verify() == []


def test_paper_out_alarm_clears_after_the_refill_and_others_end_when_acknowledged(
    screen: Screen,
) -> None:
    with httpx.Client(base_url=screen.url, timeout=10) as client:
        client.post("/api/start", json={"pin": PIN})
        screen.on_loop(lambda e: e.on_printer_status("paper out"))
        state = client.get("/api/state").json()
        assert state["phase"] == "paused"
        [alarm] = state["alarms"]
        assert alarm["code"] == "paper_out"
        assert alarm["message"] == {"code": "printer_fault", "params": {"fault": "paper_out"}}
        tiles = {t["name"]: t for t in state["devices"]}
        assert (tiles["media"]["state"], tiles["media"]["code"]) == ("fault", "paper_out")
        # acknowledged: seen, but the paper is still out
        acked = client.post(f"/api/alarms/{alarm['id']}/acknowledge", json={"pin": PIN}).json()
        assert acked["alarms"][0]["acknowledged_by"] == "Lan"
        screen.on_loop(lambda e: e.on_printer_status(None))  # refilled
        state = client.get("/api/state").json()
        assert state["alarms"] == []
        assert [a["code"] for a in state["alarm_history"]] == ["paper_out"]
        assert state["alarm_history"][0]["duration_s"] >= 0
        wait_until(lambda: client.get("/api/state").json()["phase"] == "running", "resumed")
        screen.on_loop(
            lambda e: e._fx.alarm(AlarmCode.TOO_MANY_REJECTS, e.alarms[0].severity, "5 rejects")
        )
        [alarm] = client.get("/api/state").json()["alarms"]
        ended = client.post(f"/api/alarms/{alarm['id']}/acknowledge", json={"pin": PIN}).json()
        assert ended["alarms"] == []
        assert ended["alarm_history"][0]["code"] == "too_many_rejects"
        nobody = client.post(f"/api/alarms/{alarm['id']}/acknowledge", json={})
        assert nobody.status_code == 403


# -- the page in headless Chromium ---------------------------------------------------------


def _browser(p: Any) -> Any:
    return p.chromium.launch(
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


def _check_layout(page: Any, where: str) -> None:
    """No horizontal scrolling, nothing past the right edge, touch targets of 48 px."""
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, where
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.offsetParent !== null)
            .filter(e => e.getBoundingClientRect().right > innerWidth + 1)
            .map(e => e.tagName + '#' + e.id + '.' + e.className)"""
    )
    assert overflowing == [], f"{where}: past the right edge: {overflowing}"
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, input')]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.textContent || e.id, e.getBoundingClientRect()])
            .filter(([, r]) => r.width < 48 || r.height < 48).map(([t]) => t)"""
    )
    assert small == [], f"{where}: touch targets under 48 px: {small}"


def _screenshot(page: Any, name: str) -> None:
    """Save the screen for the operator guide when ``LINESIDE_SCREENSHOTS`` names a folder."""
    folder = os.environ.get("LINESIDE_SCREENSHOTS")
    if folder:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(folder) / name))


def _check_vietnamese(page: Any, where: str) -> None:
    shown = page.evaluate("document.body.innerText")
    # all capitals are codes and data (a lot "LOT-7"), not words
    english = sorted({m.group(0) for m in ENGLISH.finditer(shown) if not m.group(0).isupper()})
    assert english == [], f"{where}: English on the Vietnamese screen: {english}\n{shown}"


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")
@pytest.mark.parametrize("size", [(1024, 600), (800, 480)], ids=["1024x600", "800x480"])
def test_the_screen_in_a_browser_vietnamese_no_overflow_no_other_host(
    screen: Screen, size: tuple[int, int]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    foreign: list[str] = []
    here = urlsplit(screen.url).netloc

    def only_the_agent(route: Any) -> None:
        if urlsplit(route.request.url).netloc != here:
            foreign.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    with sync_playwright() as p:
        browser = _browser(p)
        try:
            width, height = size
            page = browser.new_page(viewport={"width": width, "height": height}, has_touch=True)
            page.route("**/*", only_the_agent)
            page.goto(screen.url + "/")
            expect(page.locator("#line-name")).to_have_text(LINE_NAME)
            expect(page.locator("#product")).to_contain_text("Miến dong Côn Minh")
            expect(page.locator("#clock")).to_have_text(re.compile(r"^\d\d:\d\d$"))
            _check_layout(page, "loaded")
            _check_vietnamese(page, "loaded")
            page.click("#btn-shift")
            for digit in PIN:  # on the keypad: the panel has no keyboard
                page.locator("#d-keypad button", has_text=digit).click()
            page.locator("#d-keypad button", has_text="✓").click()
            expect(page.locator("#btn-shift")).to_contain_text("Lan")
            page.click("[data-action=start]")
            expect(page.locator("#d-question")).to_contain_text("WO-1")
            _check_layout(page, "dialog")
            _check_vietnamese(page, "dialog")
            page.fill("#d-pin", "0000")
            page.click("#d-ok")
            expect(page.locator("#d-error")).to_have_text("Sai mã PIN")
            page.fill("#d-pin", PIN)
            page.click("#d-ok")
            expect(page.locator("#phase")).to_have_text("Đang chạy")
            expect(page.locator("#c-verified")).not_to_have_text(re.compile(r"^[0-4]$"))
            expect(page.locator("#reads tr").first).to_contain_text("08934567890120")
            screen.on_loop(lambda e: e.on_printer_status("paper out"))
            expect(page.locator("#alarms")).to_contain_text("Máy in: hết giấy")
            expect(page.locator("#tiles")).to_contain_text("hết giấy")
            _check_layout(page, "paper out")
            _check_vietnamese(page, "paper out")
            _screenshot(page, f"operator-screen-alarm-{width}x{height}.png")
            page.locator("#alarms button").click()
            page.fill("#d-pin", PIN)
            page.click("#d-ok")
            expect(page.locator("#alarms")).to_contain_text("Lan đã biết")
            screen.on_loop(lambda e: e.on_printer_status(None))
            expect(page.locator("#alarms")).to_have_text("Không có cảnh báo")
            expect(page.locator("#history")).to_contain_text("Hết giấy")
            expect(page.locator("#phase")).to_have_text("Đang chạy")
            serial = screen.journal.serials.in_state("WO-1", SerialState.COMMISSIONED)[0]
            page.click("[data-action=void]")
            page.fill("#d-serial", serial)
            page.fill("#d-reason", "Nhãn rách")
            page.fill("#d-pin", PIN)
            page.click("#d-ok")
            expect(page.locator("#message")).to_have_text(f"Đã huỷ mã {serial}.")
            page.click("[data-action=pause]")
            _check_layout(page, "pause dialog")
            expect(page.locator("#d-serial")).to_be_hidden()
            _screenshot(page, f"operator-dialog-{width}x{height}.png")
            page.locator("#d-chips button", has_text="Đổi ca").click()
            page.fill("#d-pin", PIN)
            page.click("#d-ok")
            expect(page.locator("#phase")).to_have_text("Tạm dừng")
            expect(page.locator("#pause")).to_contain_text("Người vận hành tạm dừng: Đổi ca")
            _check_layout(page, "paused")
            _check_vietnamese(page, "paused")
            _screenshot(page, f"operator-screen-{width}x{height}.png")
            english = browser.new_page(viewport={"width": width, "height": height})
            english.route("**/*", only_the_agent)
            english.goto(screen.url + "/?lang=en")
            expect(english.locator("#phase")).to_have_text("Paused")
            expect(english.locator("#product")).to_contain_text("Arrowroot noodles")
            _check_layout(english, "english")
        finally:
            browser.close()
    assert foreign == []
