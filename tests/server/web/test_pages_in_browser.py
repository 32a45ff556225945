"""The consumer page and the dashboard in a real headless Chromium against uvicorn."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, sync_playwright

from lineside.contract import LineState, LineStatus
from lineside.errors import TransportError
from server.app import create_app
from server.db import make_engine, make_session_factory, migrate
from server.db.models import Line, Recall, StatusReport, User
from server.services.auth import issue_token
from server.services.demo import DEMO_GTIN, seed_demo
from server.settings import ServerSettings
from tests.support.broker import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium not found at {CHROMIUM}"),
]


class _NoBroker:
    def publish(self, topic: str, payload: bytes) -> None:
        raise TransportError("no broker in browser tests")


@dataclass(frozen=True)
class Running:
    base: str
    admin_token: str


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'lineside.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    seed_demo(factory, "browser-pass-1", units=30)
    with factory() as session, session.begin():
        session.add(Recall(gtin=DEMO_GTIN, lot="RECALLED-LOT", reason="Phát hiện tạp chất"))
        line = session.query(Line).order_by(Line.id).first()
        assert line is not None
        status = LineStatus(site=line.site, line=line.id, state=LineState.RUNNING, print_grade="B")
        session.add(
            StatusReport(
                topic=f"status/{line.id}",
                site=line.site,
                line_id=line.id,
                device_id=None,
                payload=status.model_dump(mode="json"),
            )
        )
        admin = session.query(User).filter_by(username="admin").one()
        token = issue_token(session, admin, timedelta(hours=1))
    port = free_port()
    settings = ServerSettings(
        database_url=url, resolver_domain=f"http://127.0.0.1:{port}", secure_cookies=False
    )
    app = create_app(settings, session_factory=factory, command_publisher=_NoBroker())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        threading.Event().wait(0.05)
    yield Running(f"http://127.0.0.1:{port}", token)
    server.should_exit = True
    thread.join()
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield launched
        launched.close()


def test_consumer_page_shows_product_stars_and_status(running: Running, browser: Browser) -> None:
    page = browser.new_page(locale="vi-VN")
    page.goto(f"{running.base}/01/{DEMO_GTIN}/10/TC2026/21/DEMO000001")
    assert page.locator("#status").get_attribute("data-status") == "genuine"
    assert page.locator("#status h1").inner_text() == "Chính hãng"
    assert "Chè Tân Cương" in page.locator("#product-name").inner_text()
    assert page.locator(".stars").get_attribute("data-stars") == "4"
    assert page.locator("#producer-name").inner_text() == "Hợp tác xã Chè Tân Cương"
    assert page.locator("#stages li").count() == 1
    page.close()


def test_english_switch_and_accept_language(running: Running, browser: Browser) -> None:
    page = browser.new_page(locale="vi-VN")
    page.goto(f"{running.base}/01/{DEMO_GTIN}/21/DEMO000002")
    page.click("#lang-switch")
    page.wait_for_url("**lang=en")
    assert page.locator("#status h1").inner_text() == "Genuine"
    assert "green tea" in page.locator("#product-name").inner_text()
    page.close()
    english = browser.new_page(locale="en-US", extra_http_headers={"Accept-Language": "en-US"})
    english.goto(f"{running.base}/01/{DEMO_GTIN}/21/DEMO000002")
    assert english.locator("html").get_attribute("lang") == "en"
    english.close()


def test_recalled_lot_shows_the_warning(running: Running, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{running.base}/01/{DEMO_GTIN}/10/RECALLED-LOT")
    assert page.locator("#status").get_attribute("data-status") == "recalled"
    assert "Phát hiện tạp chất" in page.locator("#status").inner_text()
    page.close()


def test_dashboard_renders_its_chart_after_login(running: Running, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(f"{running.base}/dashboard")
    page.wait_for_url("**/login?next=%2Fdashboard")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "browser-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
    chart = page.locator("svg.chart").first
    assert chart.is_visible()
    assert page.locator("svg.chart rect.bar").count() == 24
    assert page.locator("#lines tbody tr").first.inner_text().startswith("L1")
    # The line's rolling print-quality grade, from its status.
    assert page.locator("#lines tbody tr td.print-grade").first.inner_text() == "B"
    page.close()


def test_six_reloads_in_one_browser_are_one_device_not_a_copied_code(
    running: Running, browser: Browser
) -> None:
    context = browser.new_context(locale="vi-VN")
    page = context.new_page()
    page.goto(f"{running.base}/01/{DEMO_GTIN}/10/TC2026/21/DEMO000003")
    assert page.url.startswith(f"{running.base}/p/01/{DEMO_GTIN}/")
    for _ in range(5):
        page.reload()
    scans = page.locator("#scans p").first
    assert scans.get_attribute("data-devices") == "1"
    assert page.locator(".clone-warning").count() == 0
    assert "đã được 1 thiết bị quét" in scans.inner_text()
    context.close()
    other = browser.new_context(user_agent="another phone")
    second = other.new_page()
    second.goto(f"{running.base}/01/{DEMO_GTIN}/10/TC2026/21/DEMO000003")
    assert second.locator("#scans p").first.get_attribute("data-devices") == "2"
    other.close()


def test_a_page_of_another_origin_reads_the_linkset_and_its_link_header(
    running: Running, browser: Browser
) -> None:
    page = browser.new_page()
    page.set_content("<html><body>retailer app</body></html>")  # an opaque origin
    answer = page.evaluate(
        """async (url) => {
            const r = await fetch(url, {headers: {"Accept": "application/linkset+json"}});
            return {status: r.status, link: r.headers.get("link"), body: await r.json()};
        }""",
        f"{running.base}/01/{DEMO_GTIN}/21/DEMO000004",
    )
    assert answer["status"] == 200
    assert 'rel="linkset"' in answer["link"]
    (entry,) = answer["body"]["linkset"]
    assert entry["anchor"] == f"{running.base}/01/{DEMO_GTIN}/21/DEMO000004"
    page.close()


def test_head_and_options_over_real_http(running: Running) -> None:
    unit = f"{running.base}/01/{DEMO_GTIN}/21/DEMO000005"
    with httpx.Client() as client:
        head = client.head(unit)
        assert head.status_code == 307
        assert head.content == b""
        linkset = client.head(f"{unit}?linkType=linkset")
        assert linkset.status_code == 200
        assert int(linkset.headers["content-length"]) > 0
        assert linkset.content == b""
        assert (
            client.get(f"{unit}?linkType=linkset").headers["content-length"]
            == (linkset.headers["content-length"])
        )
        preflight = client.options(unit, headers={"Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
