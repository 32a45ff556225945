"""The whole chain, every part real: printer and scanner simulators on TCP ports joined by the
simulated physical line, the edge agent as a process with its real drivers, the real
Mosquitto at 127.0.0.1:1883 (a unique site and line per test), two ingestor processes sharing
the subscription, and the aggregator on SQLite and on PostgreSQL. A 2,000-unit work order with
misses, misreads, garbage, foreign codes and a paper-out; then every unit is traced through
the server's API and a sample of consumer pages is opened in a headless browser."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from app.bench.e2e import process_ids
from app.demo.stack import DemoOptions, DemoStack, RunSummary
from simulators.line import ReadScript
from tests.support.databases import postgres_database

UNITS = 2000
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

T = TypeVar("T")


def _mosquitto_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.slow,
    pytest.mark.skipif(not _mosquitto_up(), reason="Mosquitto not running on 127.0.0.1:1883"),
]


class StackThread:
    """Runs a :class:`DemoStack` on an event loop of its own thread, so the tests (and the
    synchronous browser) can talk to the running system from the main thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 170.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass(frozen=True)
class Outcome:
    stack: DemoStack
    summary: RunSummary
    commissioned: list[str]
    rejected: list[str]
    token: str


def _serials(journal: Path, work_order: str, state: str) -> list[str]:
    with sqlite3.connect(journal) as conn:
        rows = conn.execute(
            "SELECT serial FROM serials WHERE work_order = ? AND state = ?", (work_order, state)
        ).fetchall()
    return [row[0] for row in rows]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def outcome(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outcome]:
    tag = uuid.uuid4().hex[:6]
    with contextlib.ExitStack() as resources:
        database_url: str | None = None
        if request.param == "postgresql":
            database_url = resources.enter_context(contextlib.contextmanager(postgres_database)())
        yield from _run(request.param, tag, database_url, tmp_path_factory)


def _run(
    kind: str, tag: str, database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outcome]:
    options = DemoOptions(
        units=UNITS,
        workdir=tmp_path_factory.mktemp(f"e2e-{kind}"),
        broker_url="mqtt://127.0.0.1:1883",
        database_url=database_url,
        ingestors=2,
        site=f"e2e-{tag}",
        line_prefix=f"E{tag}",
        units_per_case=24,
        script=ReadScript(
            travel_s=0.02, miss=0.003, misread=0.002, garbage=0.002, foreign=0.002, seed=1
        ),
        paper_out_after=UNITS // 3,
        refill_after_s=1.0,
        verify_window_ms=1500,
    )
    runner = StackThread()
    stack = DemoStack(options)
    try:
        runner.call(stack.start())
        runner.call(stack.start_work_orders())
        runner.call(stack.wait_finished(timeout=160))
        runner.call(stack.stop_agents())
        summary = runner.call(stack.summary(agents_stopped=True))
        parts = stack.lines[0]
        yield Outcome(
            stack=stack,
            summary=summary,
            commissioned=_serials(parts.journal_path, parts.work_order_code, "commissioned"),
            rejected=_serials(parts.journal_path, parts.work_order_code, "rejected"),
            token=stack._token,
        )
    finally:
        runner.call(stack.stop(), timeout=120)
        runner.close()


def test_nothing_lost_and_the_order_reconciles(outcome: Outcome) -> None:
    summary = outcome.summary
    assert summary.commissioned == UNITS
    assert summary.lost == 0
    assert summary.reconciled
    assert summary.dead_letters == 0
    assert summary.events_stored == summary.events_published == summary.events_expected
    # Misses, misreads, garbage, foreign codes and the paper-out all reject units.
    assert summary.rejected >= 1 + summary.conveyor["miss"]
    assert summary.paper_outs == 1
    assert summary.cases == UNITS // 24 + (1 if UNITS % 24 else 0)
    assert len(outcome.commissioned) == UNITS


def test_the_stack_names_its_processes(outcome: Outcome) -> None:
    # What the end-to-end bench charges CPU to; the broker here is the shared one.
    roles = process_ids(outcome.stack)
    agent = outcome.stack.lines[0].agent
    assert agent is not None
    assert set(roles) == {"agent", "ingestor", "server"}
    assert roles["agent"] == [agent.pid]
    assert len(roles["ingestor"]) == 2
    pids = [pid for role in roles.values() for pid in role]
    assert len(set(pids)) == len(pids) == 4


async def test_every_unit_is_traced_commissioned_and_in_a_case(outcome: Outcome) -> None:
    stack = outcome.stack
    gtin = stack.lines[0].gtin
    headers = {"Authorization": f"Bearer {outcome.token}"}

    async def trace_all() -> list[tuple[str, dict[str, Any]]]:
        limits = httpx.Limits(max_connections=4)
        async with httpx.AsyncClient(
            base_url=stack.base_url, headers=headers, timeout=30, limits=limits
        ) as client:
            gate = asyncio.Semaphore(4)

            async def one(serial: str) -> tuple[str, dict[str, Any]]:
                async with gate:
                    response = await client.get(f"/trace/(01){gtin}(21){serial}")
                assert response.status_code == 200, (serial, response.text)
                return serial, response.json()

            return await asyncio.gather(*(one(s) for s in outcome.commissioned))

    results = await trace_all()
    assert len(results) == UNITS
    for serial, trace in results:
        assert trace["serial"] == serial
        assert trace["commissioned"] is not None, serial
        assert trace["packed_in"], f"{serial} is in no case"
        assert trace["status"] == "genuine", (serial, trace["status"])


def test_rejected_units_are_not_genuine(outcome: Outcome) -> None:
    stack = outcome.stack
    gtin = stack.lines[0].gtin
    headers = {"Authorization": f"Bearer {outcome.token}"}
    with httpx.Client(base_url=stack.base_url, headers=headers, timeout=30) as client:
        for serial in outcome.rejected[:10]:
            trace = client.get(f"/trace/(01){gtin}(21){serial}").json()
            assert trace["commissioned"] is None or trace["status"] != "genuine", trace
            assert not trace["packed_in"]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium not found at {CHROMIUM}")
def test_consumer_pages_of_a_sample_in_a_browser(outcome: Outcome) -> None:
    from playwright.sync_api import sync_playwright

    stack = outcome.stack
    parts = stack.lines[0]
    sample = outcome.commissioned[:: max(1, len(outcome.commissioned) // 5)][:5]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS
        )
        try:
            page = browser.new_page(locale="vi-VN")
            for serial in sample:
                page.goto(f"{stack.base_url}/01/{parts.gtin}/10/{parts.lot}/21/{serial}")
                assert page.locator("#status").get_attribute("data-status") == "genuine"
                assert "Miến dong Côn Minh" in page.content()
        finally:
            browser.close()
