"""Reads from a PostgreSQL streaming-replication standby, while it keeps up.

A :class:`ReadReplica` watches a standby (``database_read_url``) against its primary and
hands out read sessions on it: traces, resolver look-ups and consumer pages read there,
so the primary's cores and buffers stay with ingestion. Every
``replica_check_interval_seconds`` it measures, in two small queries, how far behind
the standby is (:func:`replication_lag`); while the standby is down, is not a standby
(``pg_is_in_recovery()`` is false, e.g. after a promotion) or lags more than
``replica_max_lag_seconds``, :meth:`ReadReplica.session` gives ``None`` and the
caller reads from the primary instead. A connection that fails at check-out marks the
standby down at once, so one request notices for all of them.

Lag is measured in time, not bytes: the standby has replayed everything the primary
had written when the check began (lag 0), or else the lag is the time since the last
transaction it replayed (``now() - pg_last_xact_replay_timestamp()``). On an idle
primary whose last WAL is not a commit this overestimates, which only sends reads to
the primary for one check interval.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from server.db.engine import make_read_engine, make_session_factory

logger = logging.getLogger(__name__)

__all__ = ["ReadReplica", "ReplicaState", "ReplicationLag", "parse_lsn", "replication_lag"]


def parse_lsn(lsn: str) -> int:
    """A WAL position (``pg_lsn`` text, ``'16/B374D848'``) as a byte offset.

    >>> parse_lsn("0/3000060")
    50331744
    >>> parse_lsn("1/0") == 1 << 32
    True
    >>> parse_lsn("nonsense")
    Traceback (most recent call last):
    ...
    ValueError: not a WAL position (pg_lsn): 'nonsense'
    """
    high, slash, low = lsn.partition("/")
    try:
        if not slash:
            raise ValueError(lsn)
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise ValueError(f"not a WAL position (pg_lsn): {lsn!r}") from None


@dataclass(frozen=True, slots=True)
class ReplicationLag:
    """How far a standby is behind its primary.

    ``seconds`` is ``inf`` when the standby has not replayed any transaction yet and is
    behind; ``in_recovery`` is false when the "standby" is in fact a primary.
    """

    in_recovery: bool
    seconds: float
    bytes: int


def replication_lag(primary: Connection, replica: Connection) -> ReplicationLag:
    """Measure the standby behind ``replica`` against ``primary`` (two small queries).

    The primary's WAL position is read first: a standby that has replayed up to it has
    everything committed before the measurement began. It is the *insert* position: with
    ``synchronous_commit = off`` a commit returns before its WAL is written, so the write
    position (``pg_current_wal_lsn()``) can lag behind commits already visible there.
    """
    primary_lsn = parse_lsn(
        str(primary.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar_one())
    )
    in_recovery, replayed, behind = replica.execute(
        text(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), "
            "EXTRACT(EPOCH FROM (clock_timestamp() - pg_last_xact_replay_timestamp()))"
        )
    ).one()
    if not in_recovery or replayed is None:
        return ReplicationLag(in_recovery=bool(in_recovery), seconds=math.inf, bytes=0)
    missing = max(0, primary_lsn - parse_lsn(str(replayed)))
    if missing == 0:
        return ReplicationLag(in_recovery=True, seconds=0.0, bytes=0)
    seconds = math.inf if behind is None else max(0.0, float(behind))
    return ReplicationLag(in_recovery=True, seconds=seconds, bytes=missing)


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """The standby as last checked: whether reads go there, and why (not)."""

    usable: bool
    detail: str
    lag_seconds: float | None = None
    #: ``time.monotonic()`` of the check.
    checked_at: float = 0.0


class ReadReplica:
    """Read sessions on a standby that keeps within ``max_lag_seconds`` of the primary.

    ``clock`` is injectable for tests. Thread-safe: one request at a time re-checks the
    standby; the others use the last state meanwhile.
    """

    def __init__(
        self,
        primary: Engine,
        replica: Engine,
        *,
        max_lag_seconds: float,
        check_interval_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_lag_seconds <= 0:
            raise ValueError(f"max_lag_seconds must be positive, got {max_lag_seconds}")
        if check_interval_seconds < 0:
            raise ValueError(f"check_interval_seconds must be ≥ 0, got {check_interval_seconds}")
        self.primary = primary
        self.engine = replica
        self.max_lag_seconds = max_lag_seconds
        self.check_interval_seconds = check_interval_seconds
        self._clock = clock
        self._factory: sessionmaker[Session] = make_session_factory(replica)
        self._checking = threading.Lock()
        self._count_lock = threading.Lock()
        self._state: ReplicaState | None = None
        #: Read sessions handed out on the standby, and refused (the caller used the primary).
        self.served = 0
        self.refused = 0

    @classmethod
    def from_url(
        cls,
        primary: Engine,
        url: str,
        *,
        max_lag_seconds: float,
        check_interval_seconds: float = 1.0,
    ) -> ReadReplica:
        """A replica on ``url`` (see :func:`server.db.engine.make_read_engine`)."""
        return cls(
            primary,
            make_read_engine(url),
            max_lag_seconds=max_lag_seconds,
            check_interval_seconds=check_interval_seconds,
        )

    def check(self) -> ReplicaState:
        """Measure the standby now and remember the answer."""
        now = self._clock()
        which = "primary"
        try:
            with self.primary.connect() as primary:
                which = "standby"
                with self.engine.connect() as replica:
                    lag = replication_lag(primary, replica)
        except SQLAlchemyError as exc:
            # Without the primary the lag cannot be told, so the standby is not trusted.
            # The error names hosts and ports: it goes to the log, not to /readyz.
            detail = "unreachable" if which == "standby" else "primary unreachable: lag unknown"
            state = ReplicaState(False, detail, None, now)
            reason = f"{detail}: {_first_line(exc)}"
        else:
            state = self._judge(lag, now)
            reason = state.detail
        previous, self._state = self._state, state
        if previous is None or previous.usable != state.usable:
            if state.usable:
                logger.info("read replica serving reads: %s", reason)
            else:
                logger.warning("read replica not used: %s", reason)
        return state

    def _judge(self, lag: ReplicationLag, now: float) -> ReplicaState:
        if not lag.in_recovery:
            return ReplicaState(False, "not a standby (pg_is_in_recovery() is false)", None, now)
        if lag.seconds > self.max_lag_seconds:
            behind = "unknown" if math.isinf(lag.seconds) else f"{lag.seconds:.1f} s"
            return ReplicaState(
                False,
                f"lagging: {behind} behind ({lag.bytes} bytes), over {self.max_lag_seconds:g} s",
                lag.seconds if not math.isinf(lag.seconds) else None,
                now,
            )
        return ReplicaState(True, f"streaming, {lag.seconds:.1f} s behind", lag.seconds, now)

    def state(self) -> ReplicaState:
        """The last state, re-checked when it is older than the check interval."""
        state = self._state
        if state is not None and self._clock() - state.checked_at < self.check_interval_seconds:
            return state
        if state is not None and not self._checking.acquire(blocking=False):
            return state  # another request is checking: do not queue behind it
        if state is None:
            self._checking.acquire()
        try:
            return self.check()
        finally:
            self._checking.release()

    def mark_down(self, reason: str) -> None:
        """Stop reading from the standby until the next check."""
        self._state = ReplicaState(False, "unreachable", None, self._clock())
        logger.warning("read replica not used: unreachable: %s", reason)

    @contextmanager
    def session(self) -> Iterator[Session | None]:
        """A session on the standby, or ``None`` when reads must go to the primary.

        The session's connection is checked out (and pinged) before it is handed over, so
        a standby that died since the last check costs no failed request. It is never
        committed: the connections are read-only anyway.
        """
        opened = self._open()
        if opened is None:
            with self._count_lock:
                self.refused += 1
            yield None
            return
        with self._count_lock:
            self.served += 1
        with opened:
            yield opened

    def _open(self) -> Session | None:
        if not self.state().usable:
            return None
        session = self._factory()
        try:
            session.connection()
        except SQLAlchemyError as exc:
            session.close()
            self.mark_down(_first_line(exc))
            return None
        return session

    def dispose(self) -> None:
        """Close the standby's connections."""
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    """The first line of an error, without SQLAlchemy's background link."""
    cause = exc.__cause__ or getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]
