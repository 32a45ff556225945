"""Every server page in a real headless Chromium, at the desk's 1024x600 and a phone's
360x740: no horizontal scrolling, no English words on Vietnamese pages, no request to a
host other than the server; the dashboard refreshes itself from server-sent events.

With ``LINESIDE_SCREENSHOTS=<directory>`` the tests also save a screenshot of each page
there (``docs/img`` holds the ones the documentation shows).
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from lineside.errors import TransportError
from server.app import create_app
from server.db import make_engine, make_session_factory, migrate
from server.db.models import (
    AlarmRecord,
    ConsumerScan,
    Event,
    EventEpc,
    Facility,
    Line,
    Organisation,
    Product,
    Recall,
)
from server.ingest import BatchProcessor, InboundMessage
from server.services.auth import Principal, Role
from server.services.demo import DEMO_GTIN, seed_demo
from server.services.media import store_photo
from server.settings import ServerSettings
from tests.support.broker import free_port
from tests.support.waiting import wait_until

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DESK = {"width": 1024, "height": 600}
PHONE = {"width": 360, "height": 740}
PASSWORD = "browser-desk-1"
SHOP_GLN = "8934567000019"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian chromium not found at {CHROMIUM}"),
]

#: Words of the English interface that must not appear on a Vietnamese page.
ENGLISH = re.compile(
    r"\b(the|and|line|lines|status|state|error|failed|pending|sent|dashboard|report|work "
    r"order|rejected|commissioned|alarm|alarms|severity|message|time|updated|login|sign in|"
    r"username|password|enabled|disabled|unknown|running|paused|offline|online|reason|"
    r"date|scans|units|hour|recall|recalled|genuine|product|producer|print|download|total|"
    r"year|replay|dead letters?|by district|district|yes|none|critical|warning|rate)\b",
    re.IGNORECASE,
)

#: Text of the page outside elements marked as another language or as untranslatable
#: (technical details for a technician, the link to the English version).
VISIBLE_TEXT = """() => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent.closest('[translate="no"], [lang="en"], script, style, svg')) continue;
    parts.push(walker.currentNode.textContent);
  }
  return parts.join(" ");
}"""


class _NoBroker:
    def publish(self, topic: str, payload: bytes) -> None:
        raise TransportError("no broker in browser tests")


@dataclass(frozen=True)
class Served:
    base: str
    factory: sessionmaker[Session]


def _png() -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (480, 320), (234, 242, 228))
    for x in range(120, 360):
        for y in range(90, 230):
            if (x - 240) ** 2 / 120**2 + (y - 160) ** 2 / 70**2 <= 1:
                image.putpixel((x, y), (46, 125, 50))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _seed(factory: sessionmaker[Session]) -> None:
    seed_demo(factory, PASSWORD, units=30)
    now = datetime.now(UTC)
    with factory() as session, session.begin():
        product = session.scalars(select(Product).where(Product.gtin == DEMO_GTIN)).one()
        org = session.get(Organisation, product.organisation_id)
        assert org is not None
        session.add(Facility(organisation_id=org.id, name="Cửa hàng Chè Thái Nguyên", gln=SHOP_GLN))
        admin = Principal(user_id=0, username="admin", role=Role.ADMINISTRATOR)
        store_photo(session, admin, product.id, _png(), "image/png")
        session.add(Recall(gtin=DEMO_GTIN, lot="RECALLED-LOT", reason="Phát hiện tạp chất"))
        epc = f"https://id.gs1.org/01/{DEMO_GTIN}/21/DEMO000001"
        event_id = "ni:///sha-256;" + "c" * 64 + "?ver=CBV2.0"
        session.add(
            Event(
                event_id=event_id,
                type="ObjectEvent",
                action="OBSERVE",
                biz_step="https://ref.gs1.org/cbv/BizStep-receiving",
                event_time=now - timedelta(minutes=5),
                biz_location=f"https://id.gs1.org/414/{SHOP_GLN}",
                document={"type": "ObjectEvent", "epcList": [epc], "bizStep": "receiving"},
            )
        )
        session.flush()
        session.add(EventEpc(event_id=event_id, epc=epc, role="epc"))
        session.add(
            AlarmRecord(
                site="tan-cuong",
                line_id="L1",
                device_id="printer-1",
                code="paper_out",
                severity="critical",
                message="critical: unit printer: paper_out",
                raised_at=now - timedelta(minutes=3),
            )
        )
        clone = f"https://id.gs1.org/01/{DEMO_GTIN}/21/DEMO000007"
        for index in range(8):
            session.add(
                ConsumerScan(
                    gtin=DEMO_GTIN,
                    serial="DEMO000007",
                    uri=clone,
                    client_hash=f"client-{index % 4}",
                    device_key=f"device-{index}",  # eight phones: a copied code
                    network_key=f"network-{index % 4}",
                    scanned_at=now - timedelta(hours=index),
                    verdict="genuine",
                )
            )
    # A message from a line the server does not know yet: a dead letter.
    unknown = contract.Topics(site="tan-cuong", line="L9")
    BatchProcessor(factory).process(
        [InboundMessage(unknown.status, _status("L9", contract.LineState.ONLINE))]
    )


def _status(line: str, state: contract.LineState) -> bytes:
    return contract.encode(contract.LineStatus(site="tan-cuong", line=line, state=state))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path_factory.mktemp('desk') / 'lineside.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    _seed(factory)
    port = free_port()
    settings = ServerSettings(
        database_url=url,
        resolver_domain=f"http://127.0.0.1:{port}",
        secure_cookies=False,
        dashboard_refresh_seconds=0.3,
        province="Thái Nguyên",
    )
    app = create_app(settings, session_factory=factory, command_publisher=_NoBroker())
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), timeout=20)
    assert server.started, "uvicorn did not start"
    yield Served(f"http://127.0.0.1:{port}", factory)
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


class Watched:
    """A page whose requests are recorded, to fail on any other host."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.host = urlsplit(base).netloc
        self.foreign: list[str] = []
        page.on("request", self._record)

    def _record(self, request: object) -> None:
        url: str = getattr(request, "url", "")
        scheme = urlsplit(url).scheme
        if scheme in {"data", "blob", "about"}:
            return
        if urlsplit(url).netloc != self.host:
            self.foreign.append(url)

    def check(self, name: str, *, vietnamese: bool = True, overflow: bool = True) -> None:
        page = self.page
        page.wait_for_load_state("networkidle")
        assert self.foreign == [], f"{name}: requests to other hosts: {self.foreign}"
        if overflow:
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert widths[0] <= widths[1], f"{name}: scrolls sideways ({widths[0]} > {widths[1]})"
        if vietnamese:
            assert page.locator("html").get_attribute("lang") == "vi"
            text = page.evaluate(VISIBLE_TEXT)
            found = sorted({m.group(0).lower() for m in ENGLISH.finditer(text)})
            assert not found, f"{name}: English words on a Vietnamese page: {found}"
        directory = os.environ.get("LINESIDE_SCREENSHOTS")
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=overflow)


@pytest.fixture
def opened(browser: Browser) -> Iterator[list[Page]]:
    """Pages a test opens, closed after it whatever happens (so no live stream outlives it)."""
    pages: list[Page] = []
    yield pages
    for page in pages:
        page.close()


def _open(
    browser: Browser, served: Served, size: dict[str, int], path: str, pages: list[Page]
) -> Watched:
    page = browser.new_page(viewport=size, locale="vi-VN")  # type: ignore[arg-type]
    pages.append(page)
    watched = Watched(page, served.base)
    page.goto(served.base + path)
    return watched


def _sign_in(watched: Watched) -> None:
    page = watched.page
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


# --------------------------------------------------------------------------- the desk


@pytest.mark.parametrize(("size", "suffix"), [(DESK, "desk"), (PHONE, "phone")])
def test_login_then_dashboard_then_report(
    browser: Browser, served: Served, opened: list[Page], size: dict[str, int], suffix: str
) -> None:
    watched = _open(browser, served, size, "/reports/yearly", opened)
    page = watched.page
    page.wait_for_url("**/login?next=%2Freports%2Fyearly")
    watched.check(f"login-{suffix}")
    _sign_in(watched)
    page.wait_for_url("**/reports/yearly")
    assert page.locator("#by-commune").inner_text().count("Xã Tân Cương") == 1
    assert "Hợp tác xã Chè Tân Cương" in page.locator("#by-organisation").inner_text()
    watched.check(f"report-{suffix}")
    page.goto(served.base + "/dashboard")
    assert page.locator("#alarms").inner_text().count("Máy in hết giấy") == 1
    assert "Phát hiện tạp chất" in page.locator("#recalls").inner_text()
    assert "DEMO000007" in page.locator("#clones").inner_text()
    assert "chưa được đăng ký" in page.locator("#dead-letters").inner_text()
    assert page.locator("#lines td.rate").first.inner_text() == "—"
    watched.check(f"dashboard-{suffix}")


def test_dashboard_follows_the_line_live(
    browser: Browser, served: Served, opened: list[Page]
) -> None:
    watched = _open(browser, served, DESK, "/login", opened)
    page = watched.page
    _sign_in(watched)
    page.wait_for_url("**/dashboard")
    page.wait_for_selector("body[data-live='1']")
    state = page.locator("#lines tr[data-line='L1'] td.state")
    assert state.get_attribute("data-state") == "unknown"
    topics = contract.Topics(site="tan-cuong", line="L1")
    BatchProcessor(served.factory).process(
        [InboundMessage(topics.status, _status("L1", contract.LineState.RUNNING))]
    )
    # No reload: the page hears of the change and swaps its figures.
    page.wait_for_selector("#lines tr[data-line='L1'] td.state[data-state='running']")
    assert state.inner_text() == "Đang chạy"
    watched.check("dashboard-live")


def test_a_dead_letter_is_replayed_from_the_page_after_the_fix(
    browser: Browser, served: Served, opened: list[Page]
) -> None:
    watched = _open(browser, served, DESK, "/login", opened)
    page = watched.page
    _sign_in(watched)
    page.wait_for_url("**/dashboard")
    with served.factory() as session, session.begin():
        session.add(Line(id="L9", site="tan-cuong", name="Dây chuyền 9"))
    page.locator("#dead-letters button.replay").first.click()
    page.wait_for_url("**/dashboard?replayed=1*")
    assert page.locator("#notice").inner_text() == "Đã gửi lại và lưu thành công."
    assert "Không có tin nhắn lỗi." in page.locator("#dead-letters").inner_text()
    assert page.locator("#lines tr[data-line='L9']").count() == 1
    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(served.base + "/dashboard")
    page.wait_for_url("**/login?next=%2Fdashboard")


def test_api_docs_work_with_no_internet(
    browser: Browser, served: Served, opened: list[Page]
) -> None:
    watched = _open(browser, served, DESK, "/docs", opened)
    page = watched.page
    page.wait_for_selector(".opblock-tag", timeout=20_000)
    assert page.locator(".opblock-tag").count() > 5
    watched.check("api-docs", vietnamese=False, overflow=False)


# --------------------------------------------------------------------------- consumer page


@pytest.mark.parametrize(("size", "suffix"), [(PHONE, "phone"), (DESK, "desk")])
def test_consumer_page(
    browser: Browser, served: Served, opened: list[Page], size: dict[str, int], suffix: str
) -> None:
    watched = _open(browser, served, size, f"/01/{DEMO_GTIN}/10/TC2026/21/DEMO000001", opened)
    page = watched.page
    assert page.locator("#status").get_attribute("data-status") == "genuine"
    photo = page.locator("#product-photo")
    assert photo.evaluate("image => image.complete && image.naturalWidth") == 480
    stages = page.locator("#stages").inner_text()
    assert "Cửa hàng Chè Thái Nguyên" in stages
    assert "414/" not in stages
    assert "0208 3855 123" in page.locator("#hotline").inner_text()
    watched.check(f"consumer-{suffix}")


def test_recalled_and_unknown_codes_say_what_to_do(
    browser: Browser, served: Served, opened: list[Page]
) -> None:
    watched = _open(browser, served, PHONE, f"/01/{DEMO_GTIN}/10/RECALLED-LOT", opened)
    page = watched.page
    assert page.locator("#status").get_attribute("data-status") == "recalled"
    assert "Ngừng sử dụng sản phẩm ngay" in page.locator("#advice").inner_text()
    assert page.locator("#advice a[href^='tel:']").count() == 1
    watched.check("consumer-recalled-phone")
    page.goto(f"{served.base}/01/08934567000994/21/NOPE")
    watched.check("consumer-unknown-phone")
