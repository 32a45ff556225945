"""Serial blocks from the real server app (uvicorn on a free port, SQLite): sign-in, blocks
reserved per GTIN and line, token renewal, errors named, and blocks pushed over MQTT."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from edge.journal import Journal
from edge.serials import HttpSerialSource, LocalSerialSource, SerialSourceError, SerialSupply
from lineside.errors import TransportError
from server.app import create_app
from server.db import make_engine, make_session_factory, migrate
from server.db.models import IssuedSerial, SerialBlock
from server.services.demo import DEMO_GTIN, seed_demo
from server.settings import ServerSettings
from tests.support.broker import free_port

PASSWORD = "edge-pass-1"
OTHER_GTIN = "08934567890137"


class _NoBroker:
    def publish(self, topic: str, payload: bytes) -> None:
        raise TransportError("no broker in these tests")


@dataclass(frozen=True)
class Server:
    base: str
    factory: sessionmaker[Session]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('blocks') / 'lineside.db'}"
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    seed_demo(factory, PASSWORD, units=2)
    port = free_port()
    settings = ServerSettings(database_url=url, secure_cookies=False)
    app = create_app(settings, session_factory=factory, command_publisher=_NoBroker())
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    while not running.started:
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        threading.Event().wait(0.05)
    yield Server(f"http://127.0.0.1:{port}", factory)
    running.should_exit = True
    thread.join()
    engine.dispose()


def _source(server: Server, **kwargs: object) -> HttpSerialSource:
    options: dict[str, object] = {"username": "admin", "password": PASSWORD, **kwargs}
    return HttpSerialSource(server.base, "L1", **options)  # type: ignore[arg-type]


async def test_blocks_are_reserved_to_the_line_and_gtin(server: Server) -> None:
    source = _source(server, serial_length=10)
    serials = await source.fetch(25, DEMO_GTIN)
    assert len(serials) == 25 == len(set(serials))
    assert all(len(s) == 10 for s in serials)
    with server.factory() as session:
        block = session.get(SerialBlock, source.blocks[0])
        assert block is not None
        assert block.line_id == "L1"
        assert block.gtin == DEMO_GTIN
        issued = set(
            session.scalars(select(IssuedSerial.serial).where(IssuedSerial.block_id == block.id))
        )
    assert issued == set(serials)
    # a second block never repeats a serial of the first
    again = await source.fetch(25, DEMO_GTIN)
    assert not set(again) & set(serials)


async def test_an_expired_token_is_renewed(server: Server) -> None:
    source = _source(server)
    await source.fetch(1, DEMO_GTIN)
    token = source._token
    assert token is not None
    revoked = httpx.post(
        f"{server.base}/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert revoked.status_code == 204
    assert len(await source.fetch(3, DEMO_GTIN)) == 3
    assert source._token != token


async def test_server_refusals_are_named(server: Server) -> None:
    wrong = _source(server, password="not-the-password")
    with pytest.raises(SerialSourceError, match=r"sign-in as 'admin': HTTP 401: wrong username"):
        await wrong.fetch(5, DEMO_GTIN)
    unknown_line = HttpSerialSource(server.base, "L9", username="admin", password=PASSWORD)
    with pytest.raises(SerialSourceError, match=r"serial-blocks: HTTP 404: lines: no 'L9'"):
        await unknown_line.fetch(5, DEMO_GTIN)
    no_token = HttpSerialSource(server.base, "L1")
    with pytest.raises(SerialSourceError, match="HTTP 401"):
        await no_token.fetch(5, DEMO_GTIN)
    with pytest.raises(SerialSourceError, match="per GTIN; none given"):
        await _source(server).fetch(5)
    down = HttpSerialSource(f"http://127.0.0.1:{free_port()}", "L1", token="t")
    with pytest.raises(SerialSourceError, match="ConnectError"):
        await down.fetch(5, DEMO_GTIN)


async def test_supply_keeps_server_serials_for_their_gtin(server: Server, tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    supply = SerialSupply(journal, [_source(server), LocalSerialSource()], low_water=0, block=40)
    assert (await supply.ensure(40, DEMO_GTIN)) == 40
    rows = journal.connection.execute("SELECT source, gtin FROM reserve").fetchall()
    assert set(rows) == {("server", DEMO_GTIN)}
    assert journal.serials.reserve_size(OTHER_GTIN) == 0  # a block is good for its GTIN only
    assert (await supply.ensure(10, OTHER_GTIN)) == 40
    taken = journal.serials.allocate(10, work_order="WO", gtin=OTHER_GTIN, lot="L")
    with server.factory() as session:
        gtins = set(
            session.scalars(select(IssuedSerial.gtin).where(IssuedSerial.serial.in_(taken)))
        )
    assert gtins == {OTHER_GTIN}
    assert journal.serials.reserve_size(DEMO_GTIN) == 40
    journal.close()


async def test_local_serials_fill_in_when_the_server_is_down(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    down = HttpSerialSource(f"http://127.0.0.1:{free_port()}", "L1", token="t")
    supply = SerialSupply(journal, [down, LocalSerialSource()], low_water=0, block=8)
    assert (await supply.ensure(8, DEMO_GTIN)) == 8
    rows = journal.connection.execute("SELECT DISTINCT source, gtin FROM reserve").fetchall()
    assert rows == [("local", None)]
    assert journal.serials.reserve_size(OTHER_GTIN) == 8  # made on the line: fits any product
    journal.close()


def test_a_block_pushed_over_mqtt_is_kept_for_its_gtin(tmp_path: Path) -> None:
    from app.simulated_line import simulated_line
    from edge.agent import Agent
    from lineside import contract
    from lineside.contract import SerialBlockCommand
    from tests.edge.conftest import make_config

    config = make_config(tmp_path, extra="[web]\nenabled = false\n")
    agent = Agent(config, devices=simulated_line().devices)
    command = SerialBlockCommand(
        command_id="c1", block_id="sb-1", gtin=DEMO_GTIN, serials=("AAAA2222", "BBBB3333")
    )
    ack = agent.handle_command(contract.encode(command))
    assert ack.ok
    assert agent.journal.serials.reserve_size(DEMO_GTIN) == 2
    assert agent.journal.serials.reserve_size(OTHER_GTIN) == 0
    agent.journal.close()
