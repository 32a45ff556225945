"""A clustered central broker on one machine: three NATS nodes, site Mosquittos, aggregators.

The test and the benchmark of the clustered deployment (docs/scaling.md) start the same
pieces a deployment runs, each a real process on free ports in a temporary folder:

* :class:`NatsCluster`: NATS servers with JetStream and the MQTT gateway, routed into one
  cluster; the stream of line messages is replicated on three of them;
* :class:`SiteBroker`: a Mosquitto per site, which the lines publish to and which bridges
  the site's topics to the cluster's MQTT gateways (persistent session, QoS 1, every node's
  address for failover); :func:`bridge_config` writes its bridge section;
* :class:`Aggregator`: a ``python -m server.ingest`` process consuming the stream (or, for
  the single-broker baseline, a shared MQTT subscription).

:func:`run_workload` runs simulated lines through them, optionally kills a broker node and
an aggregator mid-run, and counts from the database what was stored, lost and duplicated.

>>> print(node_config(NodePorts("n1", 4222, 6222, 1884, 8222), Path("/var/lib/nats"),
...                   routes=[6222, 6223]).splitlines()[0])
server_name: "n1"
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import SynchronizedArray
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import IO, Any, Literal

from app.demo.stack import PACKAGES_ROOT, find_mosquitto, free_port, mosquitto_config
from lineside import contract
from lineside.epcis import event_hash
from lineside.errors import ConfigError, LinesideError

#: Where CI and Debian install the server (package ``nats-server``).
NATS_CANDIDATES = ("/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server")
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_PREFIX = "8934567"


class ClusterError(LinesideError):
    """A part of the cluster did not start, or a run could not finish."""


def find_nats_server() -> str | None:
    """The ``nats-server`` binary, if installed."""
    found = shutil.which("nats-server")
    if found:
        return found
    return next((c for c in NATS_CANDIDATES if Path(c).exists()), None)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_port(port: int, timeout: float, what: str, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ClusterError(f"{what} exited with code {process.returncode} while starting")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ClusterError(f"{what}: port {port} not open after {timeout:g} s") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen[Any] | None, timeout: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --------------------------------------------------------------------------- NATS


@dataclass(frozen=True, slots=True)
class NodePorts:
    """The ports of one NATS node."""

    name: str
    client: int
    cluster: int
    mqtt: int
    monitor: int


def node_config(
    ports: NodePorts,
    store_root: Path,
    routes: Sequence[int],
    *,
    host: str = "127.0.0.1",
    route_hosts: Sequence[str] | None = None,
    cluster_name: str = "lineside",
    mqtt_ack_wait_s: int = 30,
) -> str:
    """The configuration of one node: JetStream, a cluster route to every node, MQTT.

    The MQTT gateway needs JetStream and a ``server_name`` on every node: it keeps the
    MQTT sessions (the site bridges' persistent sessions) in replicated streams.
    """
    hosts = list(route_hosts or [host] * len(routes))
    if len(hosts) != len(routes):
        raise ConfigError("route_hosts: one host per route")
    route_urls = ", ".join(f'"nats-route://{h}:{p}"' for h, p in zip(hosts, routes, strict=True))
    # A node alone has no cluster block: JetStream would wait for peers that never come.
    cluster = (
        f"""cluster {{
  name: "{cluster_name}"
  listen: "{host}:{ports.cluster}"
  routes: [{route_urls}]
}}
"""
        if len(routes) > 1
        else ""
    )
    return f"""server_name: "{ports.name}"
listen: "{host}:{ports.client}"
http: "{host}:{ports.monitor}"
jetstream {{
  store_dir: "{store_root / ports.name}"
  max_memory_store: 256MB
  max_file_store: 20GB
}}
{cluster}mqtt {{
  listen: "{host}:{ports.mqtt}"
  # A QoS 1 message delivered to an MQTT subscriber and not acknowledged is sent again.
  ack_wait: "{mqtt_ack_wait_s}s"
  max_ack_pending: 1000
}}
"""


@dataclass(slots=True)
class NatsNode:
    """One node: its ports, configuration file and process (``None`` when down)."""

    ports: NodePorts
    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.ports.client}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NatsCluster:
    """``size`` NATS nodes on free ports under ``workdir``, routed into one cluster."""

    def __init__(self, workdir: Path, size: int = 3, binary: str | None = None) -> None:
        found = binary or find_nats_server()
        if found is None:
            raise ClusterError("nats-server is not installed (Debian package nats-server)")
        if size < 1:
            raise ConfigError(f"cluster size: must be at least 1, got {size}")
        self.binary = found
        self.workdir = workdir
        ports = [
            NodePorts(f"n{i + 1}", free_port(), free_port(), free_port(), free_port())
            for i in range(size)
        ]
        routes = [p.cluster for p in ports]
        self.nodes: list[NatsNode] = []
        workdir.mkdir(parents=True, exist_ok=True)
        for p in ports:
            config = workdir / f"{p.name}.conf"
            config.write_text(node_config(p, workdir / "jetstream", routes), encoding="utf-8")
            self.nodes.append(NatsNode(p, config, workdir / f"{p.name}.log"))

    @property
    def servers(self) -> tuple[str, ...]:
        """Every node's client URL (clients fail over between them)."""
        return tuple(n.url for n in self.nodes)

    @property
    def mqtt_ports(self) -> list[int]:
        return [n.ports.mqtt for n in self.nodes]

    def start(self, timeout: float = 60.0) -> None:
        """Start every node and wait until JetStream has a leader and MQTT answers."""
        for node in self.nodes:
            self.start_node(node)
        for node in self.nodes:
            self._wait_node(node, timeout)

    def start_node(self, node: NatsNode) -> None:
        """Start one node (again, after :meth:`kill`), without waiting for it."""
        log = node.log.open("ab")
        try:
            node.process = subprocess.Popen(
                [self.binary, "-c", str(node.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
            )
        finally:
            log.close()

    def _wait_node(self, node: NatsNode, timeout: float) -> None:
        assert node.process is not None
        _wait_port(node.ports.client, timeout, f"nats-server {node.ports.name}", node.process)
        _wait_port(node.ports.mqtt, timeout, f"nats-server {node.ports.name} MQTT", node.process)
        wait_mqtt_connect("127.0.0.1", node.ports.mqtt, timeout, f"MQTT of {node.ports.name}")

    def kill(self, node: NatsNode) -> None:
        """SIGKILL one node: no goodbye to its peers or clients, as in a crash."""
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait()
        node.process = None

    def node_named(self, name: str) -> NatsNode:
        for node in self.nodes:
            if node.ports.name == name:
                return node
        raise KeyError(name)

    def stop(self) -> None:
        for node in self.nodes:
            _stop(node.process)
            node.process = None

    def __enter__(self) -> NatsCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_mqtt_connect(host: str, port: int, timeout: float, what: str) -> None:
    """Return once an MQTT 3.1.1 client is accepted on ``host:port`` (a CONNACK, not a port).

    The NATS gateway accepts TCP before its JetStream is ready, then refuses clients.
    """
    from lineside.mqtt import BrokerEndpoint, connect, make_client

    endpoint = BrokerEndpoint(host, port, keepalive_s=10)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        client = make_client(
            endpoint, f"probe-{uuid.uuid4().hex[:8]}", protocol="3.1.1", persistent_session=False
        )
        try:
            connect(client, endpoint, persistent_session=False)
            client.loop_start()
            until = time.monotonic() + 5
            while not client.is_connected() and time.monotonic() < until:
                time.sleep(0.05)
            if client.is_connected():
                client.disconnect()
                return
            last = "no CONNACK within 5 s"
        except LinesideError as exc:
            last = str(exc)
        finally:
            client.loop_stop()
        time.sleep(0.2)
    raise ClusterError(f"{what}: no MQTT session after {timeout:g} s ({last})")


# --------------------------------------------------------------------------- Mosquitto


def bridge_config(
    site: str,
    addresses: Sequence[tuple[str, int]],
    *,
    name: str | None = None,
    restart_timeout: tuple[int, int] = (1, 10),
) -> str:
    """The bridge section of a site's Mosquitto towards the central broker.

    ``addresses`` are tried in order (the first is preferred and returned to when it is
    back). The bridge keeps a persistent session at both ends (``cleansession false``), so
    what the site queued while the link was down is forwarded at QoS 1 when it returns.
    MQTT 3.1.1 without Mosquitto's private bridge flag: the NATS gateway speaks plain 3.1.1.

    >>> print(bridge_config("s1", [("10.0.0.1", 1883), ("10.0.0.2", 1883)]).splitlines()[1])
    address 10.0.0.1:1883 10.0.0.2:1883
    """
    if not contract.IDENTIFIER.fullmatch(site):
        raise ConfigError(f"site {site!r} is not an identifier")
    if not addresses:
        raise ConfigError("bridge addresses: at least one central broker address is needed")
    bridge = name or f"site-{site}"
    root = f"{contract.TOPIC_ROOT}/{site}"
    return "\n".join(
        [
            f"connection {bridge}",
            "address " + " ".join(f"{h}:{p}" for h, p in addresses),
            "round_robin false",
            f"remote_clientid {bridge}",
            f"local_clientid {bridge}-local",
            "bridge_protocol_version mqttv311",
            "try_private false",
            "cleansession false",
            "notifications false",
            "keepalive_interval 10",
            f"restart_timeout {restart_timeout[0]} {restart_timeout[1]}",
            "start_type automatic",
            # Line to centre: everything the lines publish, QoS 1.
            f"topic {root}/# out 1",
            # Centre to line: commands and receipts.
            f"topic {root}/+/{contract.Channel.COMMANDS.value} in 1",
            f"topic {root}/+/{contract.Channel.RECEIPTS.value} in 1",
            "",
        ]
    )


class SiteBroker:
    """A private Mosquitto on a free port; bridged to ``central`` when given."""

    def __init__(
        self,
        workdir: Path,
        site: str,
        central: Sequence[tuple[str, int]] = (),
        *,
        binary: str | None = None,
    ) -> None:
        found = binary or find_mosquitto()
        if found is None:
            raise ClusterError("mosquitto is not installed (Debian package mosquitto)")
        self.binary = found
        self.workdir = workdir
        self.site = site
        self.central = list(central)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "mosquitto.conf"
        text = mosquitto_config(self.port, self.workdir)
        if self.central:
            text += bridge_config(self.site, self.central)
        config.write_text(text, encoding="utf-8")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
        )
        _wait_port(self.port, timeout, f"mosquitto of {self.site}", self.process)

    def stop(self) -> None:
        _stop(self.process)
        self.process = None


# --------------------------------------------------------------------------- aggregators


class Aggregator:
    """One ``python -m server.ingest`` process (JetStream or shared MQTT subscription)."""

    def __init__(self, name: str, args: Sequence[str], log: Path) -> None:
        self.name = name
        self.args = list(args)
        self.log = log
        self.process: subprocess.Popen[str] | None = None
        self.summary = ""

    def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ)
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = f"{PACKAGES_ROOT}{os.pathsep}{path}" if path else str(PACKAGES_ROOT)
        env["PYTHONUNBUFFERED"] = "1"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.ingest", *self.args],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
            )
        assert self.process.stdout is not None
        line = _read_line(self.process.stdout, timeout)
        if line.strip() != "ready":
            self.kill()
            raise ClusterError(f"aggregator {self.name} did not start (see {self.log})")

    def kill(self) -> None:
        """SIGKILL: batches in hand are neither stored nor acknowledged."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM, then read its closing summary (``stored=.. duplicates=..``)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            out, _ = process.communicate(timeout=60)
            self.summary = out.strip()
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def duplicates(self) -> int:
        """Redelivered messages found already stored, from the closing summary (0 if none)."""
        for part in self.summary.split():
            if part.startswith("duplicates="):
                return int(part.split("=", 1)[1])
        return 0


def _read_line(stream: IO[str], timeout: float) -> str:
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return stream.readline()


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True, slots=True)
class Workload:
    """Simulated sites and lines, and the faults injected while they publish."""

    sites: int = 3
    lines_per_site: int = 2
    events_per_line: int = 500
    #: Events per second per line; ``None``: as fast as ``window`` allows.
    rate_per_line: float | None = 50.0
    #: A line never has more than this many events published and not yet receipted.
    window: int = 400
    #: A line sends again an event not receipted within this long (doubling while quiet).
    resend_after_s: float = 5.0
    aggregators: int = 3
    central: Literal["nats", "mosquitto"] = "nats"
    #: Fraction of all events published when a broker node (the stream's leader) is killed.
    kill_node_at: float | None = None
    #: Fraction of all events published when the first aggregator is killed.
    kill_aggregator_at: float | None = None
    #: After this long without a new stored event, the run ends and the rest counts as lost.
    stall_s: float = 60.0
    #: JetStream redelivers an unacknowledged message after this long.
    ack_wait_s: float = 5.0
    batch_size: int = 200

    def line_ids(self) -> list[tuple[str, str]]:
        """(site, line) of every line; line IDs are unique across sites."""
        return [
            (f"s{s + 1}", f"s{s + 1}-L{n + 1}")
            for s in range(self.sites)
            for n in range(self.lines_per_site)
        ]

    @property
    def events(self) -> int:
        return self.sites * self.lines_per_site * self.events_per_line


@dataclass(slots=True)
class RunResult:
    """What a run published and what the database holds afterwards."""

    events: int
    stored: int
    lost: int
    duplicates_stored: int
    seconds: float
    #: From the node kill until every line had an event stored that it published after it.
    recovery_s: float | None = None
    killed_node: str | None = None
    #: Redelivered messages the surviving aggregators found already stored.
    redelivered: int = 0
    aggregator_killed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.stored / self.seconds if self.seconds > 0 else 0.0


def event_for(line: str, seq: int) -> dict[str, Any]:
    """The commissioning event a simulated line publishes as its ``seq``-th message."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": (_T0 + timedelta(milliseconds=seq)).isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+07:00",
        "epcList": [f"https://id.gs1.org/01/08934567890128/21/{line}x{seq}"],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "https://id.gs1.org/414/8934567000017"},
    }
    event["eventID"] = event_hash(event)
    return event


@dataclass(frozen=True, slots=True)
class _PublishJob:
    port: int
    site: str
    line: str
    events: int
    rate: float | None
    max_unconfirmed: int
    resend_after_s: float
    journal: Path


def _run_line(
    index: int, job: _PublishJob, published: SynchronizedArray[int], stop: EventType
) -> None:
    """One simulated line: its journal's outbox, published by the agent's own publisher.

    The publisher waits for the aggregator's receipt of each event (``confirm="server"``)
    and sends again what was not receipted within ``resend_after_s``: a message a broker
    acknowledged but lost (a node killed before it reached the stream) is not lost.
    """
    from edge.journal import Journal, OutboxItem
    from edge.outbox import OutboxPublisher
    from lineside.mqtt import BrokerEndpoint

    topics = contract.Topics(job.site, job.line)
    journal = Journal.open(job.journal)
    publisher = OutboxPublisher(
        job.journal,
        BrokerEndpoint("127.0.0.1", job.port),
        f"agent-{job.line}",
        confirm="server",
        receipts_topic=topics.receipts,
        resend_after_s=job.resend_after_s,
        max_unconfirmed=job.max_unconfirmed,
        window=200,
    )

    def item(n: int) -> OutboxItem:
        event = event_for(job.line, n)

        def build(seq: int) -> bytes:
            # The outbox numbers rows from 1 in the order queued (seq == n + 1 here).
            message = contract.EventMessage(
                site=job.site,
                line=job.line,
                device=f"agent-{job.line}",
                seq=seq,
                sent_at=_T0,
                event=event,
            )
            return contract.encode(message)

        return OutboxItem(topics.events, build, event_id=event["eventID"])

    publisher.start()
    try:
        started = time.monotonic()
        chunk = 10 if job.rate is not None else 500
        for first in range(0, job.events, chunk):
            if stop.is_set():
                return
            if (
                job.rate is not None
                and (ahead := started + first / job.rate - time.monotonic()) > 0
            ):
                time.sleep(ahead)
            count = min(chunk, job.events - first)
            journal.outbox.enqueue(item(n) for n in range(first, first + count))
            published[index] = first + count
            publisher.wake()
        while not stop.is_set() and not publisher.drain(0.5):
            pass
    finally:
        publisher.stop(flush_timeout=0)
        journal.close()


def _publish_lines(
    jobs: list[_PublishJob],
    published: SynchronizedArray[int],
    ready: EventType,
    go: EventType,
    stop: EventType,
) -> None:
    """Every simulated line of a run, one thread each, in a child process (as lines are)."""
    import threading

    threads = [
        threading.Thread(target=_run_line, args=(i, job, published, stop), daemon=True)
        for i, job in enumerate(jobs)
    ]
    ready.set()
    go.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@contextlib.contextmanager
def postgres_database(prefix: str = "lineside_cluster") -> Iterator[str]:
    """A fresh, migrated PostgreSQL database on the local server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    from server.db import migrate

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed(url: str, workload: Workload) -> None:
    from server.db import make_engine, make_session_factory
    from server.db.models import Device, Line, Organisation

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            org = Organisation(name="Cluster", gs1_company_prefix=_PREFIX)
            session.add(org)
            session.flush()
            for site, line in workload.line_ids():
                session.add(
                    Line(
                        id=line,
                        site=site,
                        organisation_id=org.id,
                        offline_reserve=10 * workload.events_per_line,
                    )
                )
                session.flush()
                session.add(Device(id=f"agent-{line}", line_id=line))
    finally:
        engine.dispose()


class _Counter:
    """Per line: events stored (distinct seq), rows stored, highest seq (one query)."""

    def __init__(self, url: str, lines: list[str]) -> None:
        from sqlalchemy import create_engine

        self._engine = create_engine(url)
        self._lines = lines

    def counts(self) -> dict[str, tuple[int, int, int]]:
        from sqlalchemy import text

        with self._engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT line_id, count(DISTINCT seq), count(*), coalesce(max(seq), -1) "
                    "FROM events WHERE line_id = ANY(:lines) GROUP BY line_id"
                ),
                {"lines": self._lines},
            ).all()
        found = {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}
        return {line: found.get(line, (0, 0, -1)) for line in self._lines}

    def close(self) -> None:
        self._engine.dispose()


def _stream_leader(servers: Sequence[str], stream: str) -> str | None:
    import asyncio

    async def ask() -> str | None:
        import nats

        nc = await nats.connect(servers=list(servers), connect_timeout=5)
        try:
            info = await nc.jetstream(timeout=10).stream_info(stream)
            return info.cluster.leader if info.cluster is not None else None
        finally:
            await nc.close()

    return asyncio.run(ask())


def run_workload(workload: Workload, workdir: Path | None = None) -> RunResult:
    """Run ``workload`` end to end on a fresh PostgreSQL database and report the counts."""
    with contextlib.ExitStack() as stack:
        root = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cl-")))
        url = stack.enter_context(postgres_database())
        _seed(url, workload)
        return _run(workload, root, url, stack)


def _start_central(
    workload: Workload, root: Path, sites: list[str], stack: contextlib.ExitStack
) -> tuple[NatsCluster | None, dict[str, list[tuple[str, int]]], list[list[str]]]:
    """The central broker(s): where each site bridges to, and each aggregator's arguments."""
    from server.ingest.jetstream import JetStreamSettings, ensure_stream

    if workload.central == "nats":
        cluster = NatsCluster(root / "nats")
        stack.enter_context(cluster)
        js = JetStreamSettings(
            servers=cluster.servers,
            ack_wait_s=workload.ack_wait_s,
            batch_size=workload.batch_size,
            replicas=min(3, len(cluster.nodes)),
        )
        ensure_stream(js)
        # Each site prefers a different node, as sites would spread over a real cluster.
        ports = cluster.mqtt_ports
        central_for = {
            site: [("127.0.0.1", ports[(i + k) % len(ports)]) for k in range(len(ports))]
            for i, site in enumerate(sites)
        }
        nats_args = [arg for s in cluster.servers for arg in ("--nats", s)]
        return (
            cluster,
            central_for,
            [
                ["--source", "jetstream", *nats_args, "--batch-size", str(workload.batch_size)]
                for _ in range(workload.aggregators)
            ],
        )
    central = SiteBroker(root / "central", "central")
    central.start()
    stack.callback(central.stop)
    args = [
        [
            *("--port", str(central.port), "--client-id", f"aggregator-{n}"),
            *("--share-group", "aggregators", "--batch-size", str(workload.batch_size)),
        ]
        for n in range(workload.aggregators)
    ]
    return None, {site: [("127.0.0.1", central.port)] for site in sites}, args


@dataclass(slots=True)
class _Lines:
    """The child process running the simulated lines, and its shared counters."""

    process: Any
    published: SynchronizedArray[int]
    go: EventType
    stop: EventType


def _start_lines(
    workload: Workload, root: Path, ports: dict[str, int], stack: contextlib.ExitStack
) -> _Lines:
    jobs = [
        _PublishJob(
            ports[site],
            site,
            line,
            workload.events_per_line,
            workload.rate_per_line,
            workload.window,
            workload.resend_after_s,
            root / f"journal-{line}.db",
        )
        for site, line in workload.line_ids()
    ]
    context = multiprocessing.get_context("spawn")
    published = context.Array("q", len(jobs))
    ready, go, stop = context.Event(), context.Event(), context.Event()
    process = context.Process(
        target=_publish_lines,
        args=(jobs, published, ready, go, stop),
        name="cluster-lines",
        daemon=True,
    )
    process.start()
    stack.callback(process.kill)
    if not ready.wait(60):
        raise ClusterError("the simulated lines did not start")
    return _Lines(process, published, go, stop)


def _run(workload: Workload, root: Path, url: str, stack: contextlib.ExitStack) -> RunResult:
    lines = workload.line_ids()
    sites = sorted({site for site, _ in lines})
    cluster, central_for, aggregator_args = _start_central(workload, root, sites, stack)
    ports: dict[str, int] = {}
    for site in sites:
        broker = SiteBroker(root / f"site-{site}", site, central_for[site])
        broker.start()
        stack.callback(broker.stop)
        ports[site] = broker.port
    aggregators = []
    for n, args in enumerate(aggregator_args):
        aggregator = Aggregator(
            f"aggregator-{n}", ["--db", url, *args], root / f"aggregator-{n}.log"
        )
        aggregator.start()
        stack.callback(aggregator.stop)
        aggregators.append(aggregator)
    simulated = _start_lines(workload, root, ports, stack)
    counter = _Counter(url, [line for _, line in lines])
    stack.callback(counter.close)
    result = _watch(workload, simulated, counter, cluster, aggregators)
    simulated.stop.set()
    simulated.process.join(30)
    counts = counter.counts()
    result.stored = sum(c[0] for c in counts.values())
    result.lost = workload.events - result.stored
    result.duplicates_stored = sum(c[1] - c[0] for c in counts.values())
    for aggregator in aggregators:
        aggregator.stop()
    result.redelivered = sum(a.duplicates() for a in aggregators)
    return result


def _watch(
    workload: Workload,
    simulated: _Lines,
    counter: _Counter,
    cluster: NatsCluster | None,
    aggregators: list[Aggregator],
) -> RunResult:
    """Count stored events until all are in (or nothing moves); inject the faults on the way."""
    lines = [line for _, line in workload.line_ids()]
    published = simulated.published
    result = RunResult(workload.events, 0, 0, 0, 0.0)
    total = workload.events
    started = time.perf_counter()
    simulated.go.set()
    progress = (0, started)
    kill_seq: list[int] | None = None
    killed_at = 0.0
    while True:
        counts = counter.counts()
        done = sum(counts[line][0] for line in lines)
        now = time.perf_counter()
        sent = sum(published[:])
        if (
            cluster is not None
            and workload.kill_node_at is not None
            and result.killed_node is None
            and sent >= workload.kill_node_at * total
        ):
            # The stream's leader: the node whose loss costs the most (an election).
            leader = _stream_leader(cluster.servers, "LINESIDE") or cluster.nodes[0].ports.name
            kill_seq = list(published[:])
            killed_at = time.perf_counter()
            cluster.kill(cluster.node_named(leader))
            result.killed_node = leader
        if (
            workload.kill_aggregator_at is not None
            and not result.aggregator_killed
            and sent >= workload.kill_aggregator_at * total
        ):
            aggregators[0].kill()
            result.aggregator_killed = True
        if (
            kill_seq is not None
            and result.recovery_s is None
            and all(
                counts[line][2] > kill_seq[i]
                for i, line in enumerate(lines)
                if kill_seq[i] < workload.events_per_line
            )
        ):
            result.recovery_s = now - killed_at
        if done >= total:
            break
        if done > progress[0]:
            progress = (done, now)
        elif now - progress[1] > workload.stall_s:
            result.notes.append(f"stalled: nothing stored for {workload.stall_s:g} s")
            break
        time.sleep(0.1)
    result.seconds = time.perf_counter() - started
    return result
