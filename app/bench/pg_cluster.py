"""A throw-away PostgreSQL primary and streaming-replication standby on this host.

For the read-replica tests and ``lineside bench replica``: ``initdb`` a primary in a
temporary directory, ``pg_basebackup -R`` a hot standby from it, each on a free port of
127.0.0.1 with trust authentication, and remove everything afterwards::

    with replication_pair() as pair:
        pair.primary_url("lineside"), pair.standby_url("lineside")

The server binaries are looked for in ``LINESIDE_PG_BINDIR``, then on ``PATH``, then in
``/usr/lib/postgresql/<version>/bin`` (Debian), newest first. PostgreSQL refuses to run
as root: as root, every server command runs as the ``postgres`` user (``runuser``), and
the directory is handed to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from lineside.errors import ConfigError

#: The unprivileged user the servers run as when this process is root.
SERVER_USER = "postgres"


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``pg_basebackup``.

    Raises :class:`ConfigError` naming where it looked when there is none.
    """
    candidates: list[Path] = []
    if configured := os.environ.get("LINESIDE_PG_BINDIR"):
        candidates.append(Path(configured))
    if on_path := shutil.which("initdb"):
        candidates.append(Path(on_path).parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: -int(p.name)
        )
        candidates.extend(p / "bin" for p in versions)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "pg_basebackup")):
            return folder
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no candidate)"
    raise ConfigError(
        "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found; looked in "
        f"{looked}. Install the postgresql package or set LINESIDE_PG_BINDIR."
    )


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgServer:
    """One server of the pair: its data directory and port."""

    name: str
    data: Path
    port: int
    running: bool = False


@dataclass
class ReplicationPair:
    """A primary and its hot standby (see :func:`replication_pair`)."""

    bindir: Path
    root: Path
    primary: PgServer
    standby: PgServer
    settings: Sequence[str] = ()
    _as_user: list[str] = field(default_factory=list)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [*self._as_user, str(self.bindir / tool), *args]
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if finished.returncode != 0:
            detail = (finished.stderr or finished.stdout).strip()
            raise RuntimeError(f"{tool} failed ({finished.returncode}): {detail}")

    def url(self, server: PgServer, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on ``server`` (user postgres, trust)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/{database}"

    def primary_url(self, database: str = "postgres") -> str:
        return self.url(self.primary, database)

    def standby_url(self, database: str = "postgres") -> str:
        return self.url(self.standby, database)

    def start(self, server: PgServer) -> None:
        """Start ``server`` and wait until it accepts connections."""
        if server.running:
            return
        options = " ".join(
            [f"-p {server.port}", "-c listen_addresses=127.0.0.1", f"-k {self.root}"]
            + [f"-c {setting}" for setting in self.settings]
        )
        log = self.root / f"{server.name}.log"
        self._run("pg_ctl", "-D", str(server.data), "-l", str(log), "-w", "-o", options, "start")
        server.running = True

    def stop(self, server: PgServer, mode: str = "fast") -> None:
        """Stop ``server`` (``fast``: disconnect clients; ``immediate``: as a crash)."""
        if not server.running:
            return
        self._run("pg_ctl", "-D", str(server.data), "-m", mode, "-w", "stop")
        server.running = False

    def _standby_sql(self, sql: str) -> object:
        engine = create_engine(self.standby_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                return connection.execute(text(sql)).scalar()
        finally:
            engine.dispose()

    def pause_replay(self) -> None:
        """Stop the standby applying WAL (it keeps receiving): it falls behind."""
        self._standby_sql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        """Let the standby apply WAL again."""
        self._standby_sql("SELECT pg_wal_replay_resume()")

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Wait until the standby has applied everything the primary has written so far
        (up to its WAL insert position: asynchronous commits are not written out yet)."""
        primary = create_engine(self.primary_url(), isolation_level="AUTOCOMMIT")
        try:
            with primary.connect() as connection:
                target = str(
                    connection.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar()
                )
        finally:
            primary.dispose()
        deadline = time.monotonic() + timeout
        sql = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        while self._standby_sql(sql) is not True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {target} in {timeout} s")
            time.sleep(0.02)

    def log(self, server: PgServer) -> str:
        """What ``server`` wrote to its log (for failure messages)."""
        path = self.root / f"{server.name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _hand_to_server_user(path: Path) -> list[str]:
    """As root: give ``path`` to the server user and return the command prefix that runs
    as it; otherwise nothing to do."""
    if os.geteuid() != 0:
        return []
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ConfigError(
            f"running as root and there is no {SERVER_USER!r} user for PostgreSQL to run as"
        ) from None
    os.chown(path, user.pw_uid, user.pw_gid)
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", SERVER_USER, "--"]


#: Small servers that start fast; ``hot_standby_feedback`` keeps the primary's vacuum from
#: cancelling long reads on the standby.
BASE_SETTINGS = (
    "shared_buffers=32MB",
    "max_connections=40",
    "hot_standby=on",
    "hot_standby_feedback=on",
    "wal_level=replica",
    "max_wal_senders=4",
)
#: For tests: nothing needs to survive a crash of the machine.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@contextmanager
def replication_pair(
    settings: Sequence[str] = FAST_SETTINGS, bindir: Path | None = None
) -> Iterator[ReplicationPair]:
    """Start a primary and a streaming standby of it; stop and remove both afterwards.

    ``settings`` (``name=value``) are added to :data:`BASE_SETTINGS` on both servers.
    """
    tools = bindir or find_bindir()
    root = Path(tempfile.mkdtemp(prefix="lineside-pg-"))
    as_user = _hand_to_server_user(root)
    pair = ReplicationPair(
        bindir=tools,
        root=root,
        primary=PgServer("primary", root / "primary", free_port()),
        standby=PgServer("standby", root / "standby", free_port()),
        settings=(*BASE_SETTINGS, *settings),
        _as_user=as_user,
    )
    try:
        pair._run(
            "initdb",
            "-D",
            str(pair.primary.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            timeout=120,
        )
        pair.start(pair.primary)
        pair._run(
            "pg_basebackup",
            "-D",
            str(pair.standby.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(pair.primary.port),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "--checkpoint=fast",
            "--no-sync",
            timeout=120,
        )
        pair.start(pair.standby)
        yield pair
    finally:
        for server in (pair.standby, pair.primary):
            # Removed below either way.
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                pair.stop(server, mode="immediate")
        shutil.rmtree(root, ignore_errors=True)
