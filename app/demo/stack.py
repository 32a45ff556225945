"""The whole system on one machine: broker, aggregator, ingestors, simulated lines, agents.

:class:`DemoStack` starts everything a real installation runs, each part the way it runs
in production, and nothing that is not: a private Mosquitto on a free port (unless a
broker URL is given; without Mosquitto, or with ``embedded_broker``, an embedded amqtt
broker speaking MQTT 3.1.1 served by one ingestor), the aggregator
(``lineside server run``) on SQLite in a work directory (or any database URL), migrated
and seeded with a demo cooperative, two ingestor processes sharing one subscription
(one without shared subscriptions), and per line a simulated physical line
(:mod:`simulators.line`: printer and scanner simulators on real TCP ports) driven by an
edge agent process (``lineside edge run --config <generated toml>``) with its real drivers.

``lineside demo`` runs a work order on it and shows where to look; ``lineside demo --units N
--exit`` prints a JSON summary.

>>> options = DemoOptions(units=10, workdir=Path("var/demo"))
>>> options.line_ids()
('BB1',)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from getpass import getuser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
import tomli_w

from edge.journal import Journal
from edge.printers.templates import BUILTIN_LABELS
from lineside import contract
from lineside.errors import ConfigError, ContractError, LinesideError, TransportError
from lineside.mqtt import BrokerEndpoint, connect, make_client
from simulators.line import Conveyor, ConveyorStats, PhysicalLine, ReadScript

logger = logging.getLogger(__name__)

#: Where the ``lineside``, ``edge``, ``server``, ``simulators`` and ``app`` packages are, so
#: that child processes import the same code as this one.
PACKAGES_ROOT = Path(__file__).resolve().parents[2]
LABELS_DIR = BUILTIN_LABELS
#: The operator screen's demo PIN (its hash goes in the generated line configuration).
DEMO_PIN = "2468"
#: The admin password of the demo's own SQLite database (never of a database given to it).
DEMO_ADMIN_PASSWORD = "ocop-demo-2026"  # noqa: S105 - printed for the demo
DEMO_OPERATOR = "Hoàng Thị Mai"


class DemoError(LinesideError):
    """The demo could not start or finish (a part did not come up, a run went wrong)."""


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_mosquitto() -> str | None:
    """The Mosquitto broker binary, if installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if Path(candidate).exists():
            return candidate
    return None


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What to run. Every part has a default that works on a fresh machine."""

    units: int = 1000
    workdir: Path = Path("var/demo")
    lines: int = 1
    #: ``None``: a private Mosquitto on a free port (the embedded broker without Mosquitto).
    broker_url: str | None = None
    #: Use the embedded amqtt broker even when Mosquitto is installed.
    embedded_broker: bool = False
    #: ``None``: SQLite in the work directory.
    database_url: str | None = None
    ingestors: int = 2
    site: str = "ba-be-1"
    line_prefix: str = "BB"
    units_per_case: int = 12
    script: ReadScript = field(
        default_factory=lambda: ReadScript(
            travel_s=0.05, miss=0.004, misread=0.002, garbage=0.002, foreign=0.002
        )
    )
    #: The unit printer of line 1 runs out of paper after this many labels (``None``: never).
    paper_out_after: int | None = None
    refill_after_s: float = 3.0
    #: Printer speed in inches per second; the default prints as fast as the host sends.
    ips: float = 1e6
    #: Agents use their in-process simulated line instead of drivers and simulators.
    simulate: bool = False
    #: With ``simulate``: the simulated printer's labels per second (0: flat out).
    rate: float = 0.0
    http_port: int = 0
    #: ``None``: the fixed demo password in the demo's own SQLite database, a random one
    #: (printed once) in a database given with ``database_url``.
    admin_password: str | None = None
    verify_window_ms: int = 1000
    max_in_flight: int = 16
    allocation_batch: int = 4
    #: Seconds to wait for every published event to be stored, after the last report.
    settle_timeout_s: float = 60.0

    def line_ids(self) -> tuple[str, ...]:
        return tuple(f"{self.line_prefix}{index + 1}" for index in range(self.lines))

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first option that is out of range."""
        if self.units < 1:
            raise ConfigError(f"--units: must be at least 1, got {self.units}")
        if not 1 <= self.lines <= 4:
            raise ConfigError(f"--lines: must be 1 to 4, got {self.lines}")
        if self.ingestors < 1:
            raise ConfigError(f"--ingestors: must be at least 1, got {self.ingestors}")
        if not contract.IDENTIFIER.fullmatch(self.site):
            raise ConfigError(f"--site: {self.site!r} is not an identifier")
        if self.broker_url is not None and self.embedded_broker:
            raise ConfigError("--broker and --embedded-broker: choose one")
        if self.broker_url is not None:
            parts = urlsplit(self.broker_url)
            if parts.scheme != "mqtt" or not parts.hostname:
                raise ConfigError(f"--broker: expected mqtt://host:port, got {self.broker_url!r}")


def demo_admin_password(options: DemoOptions) -> str:
    """The demo administrator's password: the well-known demo password only in the demo's
    own database, a fresh random one in a database the user named.

    >>> demo_admin_password(DemoOptions()) == DEMO_ADMIN_PASSWORD
    True
    >>> demo_admin_password(DemoOptions(database_url="sqlite:///x.db")) == DEMO_ADMIN_PASSWORD
    False
    """
    if options.admin_password is not None:
        return options.admin_password
    if options.database_url is None:
        return DEMO_ADMIN_PASSWORD
    return secrets.token_urlsafe(18)


# --------------------------------------------------------------------------- processes


def mosquitto_config(port: int, workdir: Path) -> str:
    """The configuration of a private Mosquitto on ``port`` that logs into ``workdir``:
    anonymous on loopback, nothing persisted, and never a QoS 1 message dropped for a slow
    subscriber or bridge (no queue or in-flight limit), and Nagle's algorithm off (as in the
    production configuration)."""
    lines = [
        # Started as root, Mosquitto would switch to a user who cannot read here.
        f"user {getuser()}",
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        "max_queued_messages 0",
        "max_inflight_messages 0",
        "set_tcp_nodelay true",
        f"log_dest file {workdir / 'mosquitto.log'}",
    ]
    return "\n".join(lines) + "\n"


class _BrokerProcess:
    """A broker in a process of its own, on a free port of 127.0.0.1."""

    #: How :meth:`stop` names it.
    name = "broker"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The broker's process, while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await stop_process(self._process, self.name)
        self._process = None


class MosquittoBroker(_BrokerProcess):
    """A private Mosquitto on a free port, configured as a deployment must be
    (``max_queued_messages 0``: a slow subscriber is never silently dropped)."""

    name = "mosquitto"

    def __init__(self, workdir: Path, binary: str) -> None:
        super().__init__(workdir)
        self.binary = binary

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "mosquitto.conf"
        config.write_text(mosquitto_config(self.port, self.workdir), encoding="utf-8")
        self._process = await asyncio.create_subprocess_exec(
            self.binary,
            "-c",
            str(config),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        await wait_for_port(self.port, 10.0, what="mosquitto")


#: How the demo describes the embedded broker (``DemoStack.broker_name``).
EMBEDDED_BROKER_NAME = "embedded amqtt (MQTT 3.1.1)"
#: Said wherever the embedded broker is used. amqtt 0.12 keeps sessions in memory only, and
#: drops a QoS 1 message it delivered but that was not acknowledged (within 5 s, or before
#: the subscriber disconnected) instead of redelivering it: a crashed ingestor loses what it
#: held. Messages published while the ingestor is away are queued and delivered.
EMBEDDED_BROKER_CAVEAT = (
    "the embedded broker is for trying the demo, not for durability: sessions live in "
    "memory (lost when the broker restarts) and messages an ingestor received but did not "
    "acknowledge are not redelivered if it crashes"
)


def embedded_broker_config(port: int) -> dict[str, Any]:
    """The amqtt configuration of the embedded broker: 127.0.0.1:``port``, anyone may connect.

    >>> embedded_broker_config(18830)["listeners"]["default"]["bind"]
    '127.0.0.1:18830'
    """
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        # Not amqtt's anonymous plugin: it marks every session anonymous, and amqtt queues
        # nothing for an anonymous session while it is away (no persistent QoS 1 sessions).
        "plugins": {f"{__name__}.OpenSessionsAuthPlugin": {}},
    }


def _amqtt_auth_base() -> type[Any]:
    from amqtt.plugins.base import BaseAuthPlugin

    base: type[Any] = BaseAuthPlugin
    return base


class OpenSessionsAuthPlugin(_amqtt_auth_base()):  # type: ignore[misc]
    """amqtt authentication: accept every client, keeping its session if it asks to."""

    async def authenticate(self, *, session: Any) -> bool:
        return True


def run_embedded_broker(port: int) -> None:
    """Run the embedded amqtt broker on 127.0.0.1:``port`` until SIGTERM or SIGINT.

    Example (a separate process, as the demo starts it)::

        python -c "from app.demo.stack import run_embedded_broker; run_embedded_broker(18830)"
    """
    from amqtt.broker import Broker

    async def serve() -> None:
        broker = Broker(embedded_broker_config(port))
        await broker.start()
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await done.wait()
        await broker.shutdown()

    asyncio.run(serve())


class EmbeddedBroker(_BrokerProcess):
    """The embedded pure-Python broker (amqtt, MQTT 3.1.1) in its own process, on a free port.

    Used when Mosquitto is not installed. It keeps persistent QoS 1 sessions in memory
    only (see :data:`EMBEDDED_BROKER_CAVEAT`) and has no shared subscriptions.
    """

    name = "embedded broker"

    def __init__(self, workdir: Path, log: Any = None) -> None:
        super().__init__(workdir)
        self._log = log

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            f"from app.demo.stack import run_embedded_broker; run_embedded_broker({self.port})",
            cwd=str(self.workdir),
            env=_python_env(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._log if self._log is not None else asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        await wait_for_port(self.port, 20.0, what="embedded broker (amqtt)")


async def wait_for_port(port: int, timeout: float, *, what: str) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            if loop.time() > deadline:
                raise DemoError(
                    f"{what}: nothing listens on 127.0.0.1:{port} after {timeout:g} s"
                ) from exc
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


async def stop_process(
    process: asyncio.subprocess.Process | None, name: str, timeout: float = 20.0
) -> None:
    """SIGTERM, wait up to ``timeout`` s, then SIGKILL."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        logger.warning("%s did not stop within %g s; killing it", name, timeout)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def lost_events(published: set[str], stored: set[str], left: set[str], expected: int) -> int:
    """How many of a run's events the server does not have.

    ``published``: the event IDs seen on the broker; ``stored``: those the server has;
    ``left``: those still in the agents' outboxes after they stopped; ``expected``: how many
    the lines' reports count. An event left in an outbox is lost to the run unless the
    server stored it (its receipt came too late for the agent's stop flush); events the
    reports count but nobody saw are lost too.
    """
    made = published | left
    return len(made - stored) + max(0, expected - len(made))


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = f"{PACKAGES_ROOT}{os.pathsep}{path}" if path else str(PACKAGES_ROOT)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


LINESIDE_CLI = ("-c", "from app.cli import main; main()")


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the demo dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# --------------------------------------------------------------------------- observing


@dataclass(slots=True)
class LineView:
    """What the observer knows of one line from its MQTT messages."""

    status: contract.LineStatus | None = None
    report: contract.ReconciliationReport | None = None
    alarms: list[contract.Alarm] = field(default_factory=list)
    first_commissioned: str | None = None


class Observer:
    """Subscribes to every channel of the demo site and keeps what the lines publish.

    It sees each event the agents' outboxes publish (QoS 1, subscribed before the agents
    start), so "published" is measured at the broker, independently of the server.
    """

    def __init__(self, host: str, port: int, site: str) -> None:
        self.site = site
        self.event_ids: set[str] = set()
        self.lines: dict[str, LineView] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._endpoint = BrokerEndpoint(host, port)
        self._client = make_client(
            self._endpoint,
            f"lineside-demo-observer-{uuid.uuid4().hex[:8]}",
            protocol="3.1.1",
            persistent_session=False,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self, timeout: float = 10.0) -> None:
        connect(self._client, self._endpoint)
        self._client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TransportError(f"MQTT broker {self._endpoint}: not subscribed")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(f"{contract.TOPIC_ROOT}/{self.site}/#", qos=1)

    def _on_subscribe(self, *_args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            message = contract.decode(bytes(msg.payload), msg.topic)
        except ContractError:
            return
        line = getattr(message, "line", None)
        if not isinstance(line, str):
            return
        with self._lock:
            view = self.lines.setdefault(line, LineView())
            if isinstance(message, contract.EventMessage):
                self.event_ids.add(str(message.event["eventID"]))
                if view.first_commissioned is None and str(
                    message.event.get("bizStep", "")
                ).endswith("commissioning"):
                    epcs = message.event.get("epcList") or []
                    if epcs:
                        view.first_commissioned = str(epcs[0])
            elif isinstance(message, contract.LineStatus):
                view.status = message
            elif isinstance(message, contract.ReconciliationReport):
                view.report = message
            elif isinstance(message, contract.Alarm):
                view.alarms.append(message)

    def view(self, line: str) -> LineView:
        with self._lock:
            current = self.lines.get(line, LineView())
            return replace(current, alarms=list(current.alarms))

    def published(self) -> set[str]:
        with self._lock:
            return set(self.event_ids)


# --------------------------------------------------------------------------- the stack


@dataclass
class DemoLineParts:
    """One line: its simulators, physical line, agent process and configuration."""

    line_id: str
    gtin: str
    config_path: Path
    web_port: int
    physical: PhysicalLine | None = None
    servers: list[Any] = field(default_factory=list)
    scanners: list[Any] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    agent: asyncio.subprocess.Process | None = None
    work_order_id: int | None = None
    work_order_code: str = ""
    lot: str = ""
    paper_out_injected: bool = False
    refilled: bool = False

    @property
    def journal_path(self) -> Path:
        return self.config_path.parent / "line.db"

    def tend(self, refill_after_s: float) -> None:
        """Refill the unit printer ``refill_after_s`` after its paper runs out."""
        physical = self.physical
        if physical is not None and physical.paper_out and not self.paper_out_injected:
            self.paper_out_injected = True
            asyncio.get_running_loop().call_later(refill_after_s, self._refill)

    def _refill(self) -> None:
        if self.physical is not None:
            self.physical.refill()
            self.refilled = True


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The outcome of a demo run; ``ok`` when nothing was lost and every line balanced."""

    units: int
    commissioned: int
    rejected: int
    cases: int
    pallets: int
    events_published: int
    events_expected: int
    events_stored: int
    lost: int
    reconciled: bool
    lines: int
    paper_outs: int
    seconds: float
    conveyor: dict[str, int]
    dead_letters: int
    #: What served MQTT (``DemoStack.broker_name``).
    broker: str = ""

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.reconciled and self.commissioned >= self.units

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "commissioned": self.commissioned,
            "rejected": self.rejected,
            "cases": self.cases,
            "pallets": self.pallets,
            "events_published": self.events_published,
            "events_expected": self.events_expected,
            "events_stored": self.events_stored,
            "lost": self.lost,
            "reconciled": self.reconciled,
            "lines": self.lines,
            "paper_outs": self.paper_outs,
            "seconds": round(self.seconds, 2),
            "units_per_s": round(self.commissioned / self.seconds, 1) if self.seconds else 0.0,
            "conveyor": self.conveyor,
            "dead_letters": self.dead_letters,
            "broker": self.broker,
            "ok": self.ok,
        }


class DemoStack:
    """Starts, runs and stops every part; use ``async with DemoStack(options) as stack``."""

    def __init__(self, options: DemoOptions) -> None:
        options.check()
        self.options = options
        self.workdir = options.workdir.resolve()
        self.run_id = uuid.uuid4().hex[:8]
        self.http_port = options.http_port or free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.database_url = options.database_url or f"sqlite:///{self.workdir / 'lineside.db'}"
        self.admin_password = demo_admin_password(options)
        self.broker: MosquittoBroker | EmbeddedBroker | None = None
        self.broker_url = options.broker_url or ""
        #: What serves MQTT: "given broker", "private Mosquitto" or EMBEDDED_BROKER_NAME.
        self.broker_name = "given broker"
        self.observer: Observer | None = None
        self.server: asyncio.subprocess.Process | None = None
        self.ingestors: list[asyncio.subprocess.Process] = []
        self.lines: list[DemoLineParts] = []
        self.product_ids: dict[str, int] = {}
        self.started_at = 0.0
        self._token = ""
        self._logs: list[Any] = []

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> DemoStack:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _log(self, name: str) -> Any:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        handle = (logs / f"{name}.log").open("ab")
        self._logs.append(handle)
        return handle

    async def start(self) -> None:
        """Broker, database, server, ingestors, observer, simulated lines and agents."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self._start_broker()
        await asyncio.to_thread(self._prepare_database)
        await self._start_server()
        await self._start_ingestors()
        parts = urlsplit(self.broker_url)
        self.observer = Observer(parts.hostname or "127.0.0.1", parts.port or 1883, self.site)
        await asyncio.to_thread(self.observer.start)
        for index, line_id in enumerate(self.options.line_ids()):
            await self._start_line(index, line_id)

    async def stop(self) -> None:
        """Agents first (they flush their outboxes), then ingestors, server, broker."""
        await asyncio.gather(
            *(stop_process(line.agent, f"agent {line.line_id}") for line in self.lines)
        )
        for line in self.lines:
            if line.task is not None:
                line.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await line.task
            for scanner in line.scanners:
                await scanner.close()
            for server in line.servers:
                await server.close()
        await asyncio.gather(*(stop_process(p, "ingestor") for p in self.ingestors))
        self.ingestors.clear()
        await stop_process(self.server, "server")
        self.server = None
        if self.observer is not None:
            await asyncio.to_thread(self.observer.stop)
            self.observer = None
        if self.broker is not None:
            await self.broker.stop()
            self.broker = None
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    @property
    def site(self) -> str:
        return self.options.site

    async def _start_broker(self) -> None:
        if self.options.broker_url is not None:
            return
        binary = None if self.options.embedded_broker else find_mosquitto()
        if binary is None:
            logger.info("using the %s; %s", EMBEDDED_BROKER_NAME, EMBEDDED_BROKER_CAVEAT)
            self.broker = EmbeddedBroker(self.workdir / "broker", self._log("broker"))
            self.broker_name = EMBEDDED_BROKER_NAME
        else:
            self.broker = MosquittoBroker(self.workdir / "broker", binary)
            self.broker_name = "private Mosquitto (MQTT 5)"
        await self.broker.start()
        self.broker_url = self.broker.url

    @property
    def embedded(self) -> bool:
        """True when the embedded amqtt broker serves the demo (MQTT 3.1.1, one ingestor)."""
        return isinstance(self.broker, EmbeddedBroker)

    def _prepare_database(self) -> None:
        from server.db import make_engine, make_session_factory, migrate
        from server.services.demo import DEMO_COMPANY, DemoLine, seed_demo_company

        migrate(self.database_url)
        engine = make_engine(self.database_url)
        try:
            products = DEMO_COMPANY.products
            lines = tuple(
                DemoLine(
                    line_id=line_id,
                    name=f"Dây chuyền {index + 1}: {products[index % len(products)].name_vi}",
                    product_gtin=products[index % len(products)].gtin,
                )
                for index, line_id in enumerate(self.options.line_ids())
            )
            seeded = seed_demo_company(
                make_session_factory(engine),
                site=self.site,
                lines=lines,
                admin_password=self.admin_password,
            )
        finally:
            engine.dispose()
        self.product_ids = seeded.product_ids
        self._seeded_lines = lines

    async def _start_server(self) -> None:
        config = self.workdir / "server.toml"
        settings = {
            "database_url": self.database_url,
            "broker_url": self.broker_url,
            "resolver_domain": self.base_url,
            "host": "127.0.0.1",
            "port": self.http_port,
            "secure_cookies": False,
            "ingest_enabled": False,
            "province": "Thái Nguyên",
            # The demo and the tests ask many trace and consumer pages from one address.
            "rate_limit_per_minute": 1_000_000,
            "rate_limit_burst": 100_000,
        }
        config.write_text(tomli_w.dumps(settings), encoding="utf-8")
        self.server = await asyncio.create_subprocess_exec(
            sys.executable,
            *LINESIDE_CLI,
            "server",
            "run",
            "--config",
            str(config),
            cwd=str(self.workdir),
            env=_python_env(),
            stdout=self._log("server"),
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30.0) as client:
            while True:
                if self.server.returncode is not None:
                    raise DemoError(
                        f"the server exited ({self.server.returncode}); "
                        f"see {self.workdir / 'logs' / 'server.log'}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise DemoError(f"the server did not answer on {self.base_url}")
                await asyncio.sleep(0.1)
            response = await client.post(
                "/auth/token",
                json={"username": "admin", "password": self.admin_password},
            )
            if response.status_code != 200:
                hint = (
                    "; the database already had an 'admin' and the demo never changes it"
                    if self.options.database_url
                    else ""
                )
                raise DemoError(f"cannot sign in as admin: {response.status_code}{hint}")
            self._token = response.json()["access_token"]

    async def _start_ingestors(self) -> None:
        parts = urlsplit(self.broker_url)
        group = f"demo-{self.run_id}"
        # amqtt speaks MQTT 3.1.1 only and has no shared subscriptions: one ingestor.
        count, protocol = (1, "3.1.1") if self.embedded else (self.options.ingestors, "5")
        for index in range(count):
            sharing = [] if self.embedded else ["--share-group", group]
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server.ingest",
                "--db",
                self.database_url,
                "--host",
                parts.hostname or "127.0.0.1",
                "--port",
                str(parts.port or 1883),
                "--client-id",
                f"lineside-demo-{self.run_id}-{index + 1}",
                "--protocol",
                protocol,
                *sharing,
                "--site",
                self.site,
                cwd=str(self.workdir),
                env=_python_env(),
                stdout=asyncio.subprocess.PIPE,
                stderr=self._log(f"ingestor-{index + 1}"),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            self.ingestors.append(process)
            assert process.stdout is not None
            try:
                line = await asyncio.wait_for(process.stdout.readline(), 30)
            except TimeoutError:
                line = b""
            if line.strip() != b"ready":
                raise DemoError(f"ingestor {index + 1} did not start; see {self.workdir / 'logs'}")

    async def _start_line(self, index: int, line_id: str) -> None:
        from edge.config import hash_pin

        lines = self._seeded_lines
        gtin = lines[index].product_gtin
        linedir = self.workdir / "lines" / line_id
        linedir.mkdir(parents=True, exist_ok=True)
        parts = DemoLineParts(line_id, gtin, linedir / "line.toml", free_port())
        self.lines.append(parts)
        devices: list[dict[str, Any]] = []
        if not self.options.simulate:
            devices = await _start_physical_line(parts, self.options, index)
        config = _line_config(
            site=self.site,
            line_id=line_id,
            name=lines[index].name,
            broker_url=self.broker_url,
            resolver=self.base_url,
            devices=devices,
            web_port=parts.web_port,
            pin_hash=hash_pin(DEMO_PIN),
            options=self.options,
        )
        parts.config_path.write_text(config, encoding="utf-8")
        args = [*LINESIDE_CLI, "edge", "run", "--config", str(parts.config_path)]
        if self.options.simulate:
            args += ["--simulate", "--miss", str(self.options.script.miss)]
            args += ["--rate", str(self.options.rate)]
        parts.agent = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=str(linedir),
            env=_python_env(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._log(f"agent-{line_id}"),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        await self._wait_agent_ready(parts)

    async def _wait_agent_ready(self, parts: DemoLineParts) -> None:
        assert self.observer is not None
        deadline = time.monotonic() + 60
        while True:
            status = self.observer.view(parts.line_id).status
            scanners_ready = all(s.client_count > 0 for s in parts.scanners[:1])
            online = status is not None and status.state is not contract.LineState.OFFLINE
            if online and scanners_ready:
                return
            if parts.agent is not None and parts.agent.returncode is not None:
                raise DemoError(
                    f"agent {parts.line_id} exited ({parts.agent.returncode}); see "
                    f"{self.workdir / 'logs' / f'agent-{parts.line_id}.log'}"
                )
            if time.monotonic() > deadline:
                raise DemoError(f"agent {parts.line_id} did not come online within 60 s")
            await asyncio.sleep(0.05)

    # -- work orders --------------------------------------------------------------------

    async def start_work_orders(self, units_per_line: int | None = None) -> None:
        """Create a work order on every line through the server API and start it."""
        from server.services.demo import DEMO_COMPANY

        catalogue = {p.gtin: p for p in DEMO_COMPANY.products}
        today = datetime.now(UTC).date()
        quantity = units_per_line or self.options.units
        self.started_at = time.time()
        headers = {"Authorization": f"Bearer {self._token}"}
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=30.0
        ) as client:
            for parts in self.lines:
                product = catalogue[parts.gtin]
                stamp = datetime.now(UTC).strftime("%y%m%d%H%M%S")
                parts.lot = f"{product.lot_prefix}{stamp}"
                # No code: the server makes one, unique across lines.
                body = {
                    "line_id": parts.line_id,
                    "product_id": self.product_ids[parts.gtin],
                    "lot": parts.lot,
                    "production_date": today.isoformat(),
                    "expiry_date": (today + timedelta(days=product.shelf_life_days)).isoformat(),
                    "quantity": quantity,
                    "units_per_case": self.options.units_per_case,
                }
                created = await client.post("/work-orders", json=body)
                if created.status_code != 201:
                    raise DemoError(f"work order refused: {created.status_code} {created.text}")
                parts.work_order_id = int(created.json()["id"])
                parts.work_order_code = str(created.json()["code"])
                paper = self.options.paper_out_after
                if parts.physical is not None and parts is self.lines[0] and paper is not None:
                    parts.physical.paper_out_after(paper)
                started = await client.post(
                    f"/work-orders/{parts.work_order_id}/actions", json={"action": "start"}
                )
                if started.status_code != 200:
                    raise DemoError(f"work order not started: {started.status_code} {started.text}")

    def tend(self) -> None:
        """Do what the people on the line would: refill paper a few seconds after it runs out."""
        for parts in self.lines:
            parts.tend(self.options.refill_after_s)

    def finished(self) -> bool:
        """Every line has published its reconciliation report (work order closed)."""
        assert self.observer is not None
        return all(
            (view := self.observer.view(p.line_id)).report is not None
            and view.report.work_order == p.work_order_code
            for p in self.lines
        )

    async def wait_finished(self, timeout: float, tick: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not self.finished():
            self.tend()
            if tick is not None:
                tick()
            for parts in self.lines:
                if parts.agent is not None and parts.agent.returncode is not None:
                    raise DemoError(f"agent {parts.line_id} exited ({parts.agent.returncode})")
            if time.monotonic() > deadline:
                raise DemoError(f"work orders not closed within {timeout:g} s")
            await asyncio.sleep(0.1)

    # -- checking -----------------------------------------------------------------------

    def stored_ids(self, event_ids: set[str]) -> set[str]:
        """Which of ``event_ids`` the server has stored."""
        from sqlalchemy import select

        from server.db import make_engine
        from server.db.models import Event

        engine = make_engine(self.database_url)
        found: set[str] = set()
        wanted = sorted(event_ids)
        try:
            with engine.connect() as connection:
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start : start + 500]
                    rows = connection.execute(
                        select(Event.event_id).where(Event.event_id.in_(chunk))
                    )
                    found.update(row[0] for row in rows)
        finally:
            engine.dispose()
        return found

    async def settle(self) -> tuple[set[str], set[str]]:
        """Wait until every event seen on the broker is stored; (published, stored)."""
        assert self.observer is not None
        deadline = time.monotonic() + self.options.settle_timeout_s
        while True:
            published = self.observer.published()
            stored = await asyncio.to_thread(self.stored_ids, published)
            if stored >= published or time.monotonic() > deadline:
                return published, stored
            await asyncio.sleep(0.2)

    def _server_reports(self) -> dict[str, bool]:
        from sqlalchemy import select

        from server.db import make_engine
        from server.db.models import DeadLetter, ReconciliationRecord

        engine = make_engine(self.database_url)
        result: dict[str, bool] = {}
        try:
            with engine.connect() as connection:
                for parts in self.lines:
                    row = connection.execute(
                        select(ReconciliationRecord.balanced).where(
                            ReconciliationRecord.line_id == parts.line_id,
                            ReconciliationRecord.work_order == parts.work_order_code,
                        )
                    ).first()
                    result[parts.line_id] = bool(row[0]) if row is not None else False
                dead = connection.execute(select(DeadLetter.id)).all()
                result["__dead_letters__"] = bool(len(dead))
                self._dead_letters = len(dead)
        finally:
            engine.dispose()
        return result

    def outbox_left(self) -> set[str]:
        """The events still waiting in the agents' outboxes (read after they stopped)."""
        left: set[str] = set()
        for parts in self.lines:
            if not parts.journal_path.exists():
                continue
            journal = Journal.open(parts.journal_path)
            try:
                left |= journal.outbox.pending_events()
            finally:
                journal.close()
        return left

    async def summary(self, *, agents_stopped: bool = False) -> RunSummary:
        """Counts, losses and reconciliation for the work orders of this run."""
        assert self.observer is not None
        published, stored = await self.settle()
        server_reports = await asyncio.to_thread(self._server_reports)
        commissioned = rejected = cases = pallets = 0
        reconciled = True
        for parts in self.lines:
            report = self.observer.view(parts.line_id).report
            if report is None or report.work_order != parts.work_order_code:
                reconciled = False
                continue
            reconciled &= report.balanced and server_reports.get(parts.line_id, False)
            commissioned += sum(lot.commissioned for lot in report.lots)
            rejected += sum(lot.rejected for lot in report.lots)
            cases += report.cases
            pallets += report.pallets
        expected = commissioned + rejected + cases + pallets
        left = self.outbox_left() if agents_stopped else set()
        lost = lost_events(published, stored, left, expected)
        conveyor = ConveyorStats()
        for parts in self.lines:
            if parts.physical is not None:
                conveyor.add(parts.physical.unit.stats)
        return RunSummary(
            units=self.options.units * len(self.lines),
            commissioned=commissioned,
            rejected=rejected,
            cases=cases,
            pallets=pallets,
            events_published=len(published),
            events_expected=expected,
            events_stored=len(stored & published),
            lost=lost,
            reconciled=reconciled,
            lines=len(self.lines),
            paper_outs=sum(p.paper_out_injected for p in self.lines),
            seconds=time.time() - self.started_at if self.started_at else 0.0,
            conveyor={
                "labels": conveyor.labels,
                "miss": conveyor.miss,
                "misread": conveyor.misread,
                "garbage": conveyor.garbage,
                "foreign": conveyor.foreign,
            },
            dead_letters=getattr(self, "_dead_letters", 0),
            broker=self.broker_name,
        )

    async def stop_agents(self) -> None:
        await asyncio.gather(
            *(stop_process(line.agent, f"agent {line.line_id}") for line in self.lines)
        )

    # -- where to look ------------------------------------------------------------------

    def consumer_url(self) -> str | None:
        """The consumer page of the first unit commissioned on line 1."""
        if self.observer is None or not self.lines:
            return None
        epc = self.observer.view(self.lines[0].line_id).first_commissioned
        if epc is None:
            return None
        path = urlsplit(epc).path
        return f"{self.base_url}{path}"


async def _start_physical_line(
    parts: DemoLineParts, options: DemoOptions, index: int
) -> list[dict[str, Any]]:
    """Start line ``index``'s printer and scanner simulators and the conveyors between them
    (:class:`~simulators.line.PhysicalLine`); the devices for its line configuration."""
    from simulators.printers.engines import ZplEngine
    from simulators.printers.server import PrinterSimulator
    from simulators.scanners.line import TcpScannerSimulator

    unit_engine = ZplEngine(ips=options.ips, render_images=False)
    case_engine = ZplEngine(ips=options.ips, render_images=False)
    unit_sim = PrinterSimulator(unit_engine)
    case_sim = PrinterSimulator(case_engine)
    verify = TcpScannerSimulator()
    case_scanner = TcpScannerSimulator()
    for server in (unit_sim, case_sim):
        await server.open()
        parts.servers.append(server)
    for scanner in (verify, case_scanner):
        await scanner.open()
        parts.scanners.append(scanner)
    script = replace(options.script, seed=index)
    parts.physical = PhysicalLine(
        unit=Conveyor.on_the_wire(unit_engine, verify, script, aim_at="01"),
        case=Conveyor.on_the_wire(
            case_engine, case_scanner, ReadScript(travel_s=script.travel_s), aim_at="00"
        ),
    )
    parts.task = asyncio.create_task(parts.physical.run())
    devices = [
        {"kind": "printer", "id": "unit-printer", "role": "unit_printer",
         "language": "zpl", "url": f"tcp://127.0.0.1:{unit_sim.port}"},
        {"kind": "scanner", "id": "verify-scanner", "role": "verify_scanner",
         "url": verify.url},
        {"kind": "printer", "id": "case-printer", "role": "case_printer",
         "language": "zpl", "url": f"tcp://127.0.0.1:{case_sim.port}"},
    ]  # fmt: skip
    if case_label_carries_sscc():
        devices.append(
            {"kind": "scanner", "id": "case-scanner", "role": "case_scanner",
             "url": case_scanner.url}
        )  # fmt: skip
    return devices


def case_label_carries_sscc() -> bool:
    """Whether the case template draws the SSCC in a barcode a case scanner can read.

    The engine verifies a case by reading its SSCC back; with a template whose barcode
    holds only (01) and (10), a case scanner could never confirm a case, so the demo
    then verifies cases by count (no case scanner in the line configuration).
    """
    from edge.printers.label_data import LabelData
    from edge.printers.templates import ZplTemplate, load_template
    from simulators.line import symbols_on_label

    template = load_template(LABELS_DIR / "case-100x70.zpl")
    if not isinstance(template, ZplTemplate):
        return False
    probe = "189385120000000019"
    data = LabelData(
        product_name="probe",
        gtin="08938512000114",
        lot="L1",
        extra={"sscc": probe, "count": "1", "level": "case"},
    )
    return any(f"00{probe}" in symbol.data for symbol in symbols_on_label(template.render(data)))


def _line_config(
    *,
    site: str,
    line_id: str,
    name: str,
    broker_url: str,
    resolver: str,
    devices: list[dict[str, Any]],
    web_port: int,
    pin_hash: str,
    options: DemoOptions,
) -> str:
    """The generated ``line.toml`` of one demo line (the file a technician would write)."""
    from server.services.demo import DEMO_COMPANY

    config: dict[str, Any] = {
        "line": {
            "site": site,
            "line_id": line_id,
            "name": name,
            "site_gln": DEMO_COMPANY.facility_gln,
            "company_prefix": DEMO_COMPANY.company_prefix,
            "resolver": resolver,
        },
        "broker": {"url": broker_url, "keepalive_s": 10},
        "devices": devices,
        "reject": {"kind": "simulated"},
        "labels": {
            "templates": {
                "unit": str(LABELS_DIR / "unit-60x40.zpl"),
                "case": str(LABELS_DIR / "case-100x70.zpl"),
            }
        },
        "timing": {
            "verify_window_ms": options.verify_window_ms,
            "max_in_flight": options.max_in_flight,
            "allocation_batch": options.allocation_batch,
        },
        "policy": {"max_consecutive_rejects": 8, "serials_low_water": 500},
        # Events leave the outbox on the aggregator's receipt (docs/reliability.md).
        "outbox": {"path": "line.db", "confirm": "server"},
        "web": {"enabled": True, "host": "127.0.0.1", "port": web_port},
        "operators": [{"name": DEMO_OPERATOR, "pin_hash": pin_hash}],
    }
    return "# Generated by lineside demo: one simulated packing line.\n" + tomli_w.dumps(config)


__all__ = [
    "DEMO_ADMIN_PASSWORD",
    "DEMO_PIN",
    "DemoError",
    "DemoOptions",
    "DemoStack",
    "RunSummary",
    "date",
]
