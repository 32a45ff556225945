"""Sign-in that a flood of wrong passwords cannot turn against the server.

:class:`SignInDesk` checks credentials for every sign-in route:

- argon2 runs in worker threads, at most ``hash_concurrency`` at a time, so the event
  loop keeps serving; sign-ins waiting for a slot hold no thread, and beyond
  ``queue_limit`` of them the next is told to come back (429);
- no database connection is held while argon2 runs: the user is read in one short
  transaction and the token issued in another;
- an account locked by :class:`~server.services.ratelimit.AccountLockout` is refused
  before its password is checked;
- failed sign-ins are not written one by one: :class:`FailedSignIns` counts them per
  account, client address and route, and :meth:`SignInDesk.flush` writes one audit record
  per count (the app flushes every ``window`` seconds and when it stops). The name an
  attacker typed is recorded cut and escaped (:func:`printable_name`).

>>> printable_name("ann\\x00\\ud800" + "x" * 100)[:16]
'ann\\\\x00\\\\ud800xxx'
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import User
from server.errors import TooManyRequests
from server.services.audit import record_action
from server.services.auth import SignedIn, hash_password, issue_token, verify_password
from server.services.ratelimit import AccountLockout

logger = logging.getLogger(__name__)

__all__ = ["FailedSignIns", "SignInDesk", "printable_name"]

#: The longest user name looked up; longer ones are no one's.
MAX_USERNAME = 100
#: How much of a typed name the audit trail keeps.
RECORDED_NAME = 64


def printable_name(name: str, limit: int = RECORDED_NAME) -> str:
    """``name`` fit for a log or an audit record: control characters, NUL and lone
    surrogates escaped, cut to ``limit`` characters.

    >>> printable_name("lan")
    'lan'
    >>> printable_name("a\\nb")
    'a\\\\x0ab'
    """
    shown = "".join(
        char
        if char.isprintable()
        else f"\\x{ord(char):02x}"
        if ord(char) < 256
        else f"\\u{ord(char):04x}"
        for char in name[: limit * 2]
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _lookup_safe(name: str) -> bool:
    """Whether ``name`` may be looked up at all (PostgreSQL refuses NUL; no user has a
    control character or a lone surrogate in their name)."""
    return 0 < len(name) <= MAX_USERNAME and name.isprintable()


@dataclass(slots=True)
class _Count:
    failures: int = 0
    refused_while_locked: int = 0
    first: datetime = field(default_factory=lambda: datetime.now(UTC))
    last: datetime = field(default_factory=lambda: datetime.now(UTC))


class FailedSignIns:
    """Failed sign-ins counted per (account, client, route) until :meth:`drain`.

    At most ``max_keys`` counts are kept; a spray over more names is counted under ``*``.

    >>> tally = FailedSignIns(max_keys=1)
    >>> tally.note("ann", "10.0.0.1", "api"); tally.note("bob", "10.0.0.1", "api")
    >>> sorted((key, count.failures) for key, count in tally.drain().items())
    [(('*', '10.0.0.1', 'api'), 1), (('ann', '10.0.0.1', 'api'), 1)]
    """

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._counts: dict[tuple[str, str, str], _Count] = {}
        self._lock = threading.Lock()

    def note(self, account: str, client: str, via: str, *, locked: bool = False) -> None:
        """Count one failure (``locked``: refused because the account was locked)."""
        key = (printable_name(account), printable_name(client), via)
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                if len(self._counts) >= self.max_keys:
                    key = ("*", key[1], via)
                count = self._counts.setdefault(key, _Count())
            if locked:
                count.refused_while_locked += 1
            else:
                count.failures += 1
            count.last = datetime.now(UTC)

    def drain(self) -> dict[tuple[str, str, str], _Count]:
        """The counts so far; the tally starts again from zero."""
        with self._lock:
            drained, self._counts = self._counts, {}
        return drained


@dataclass(frozen=True, slots=True)
class _Account:
    user_id: int
    password_hash: str


class SignInDesk:
    """Exchanges credentials for tokens; see the module's description."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        lockout: AccountLockout,
        hash_concurrency: int = 2,
        queue_limit: int = 32,
    ) -> None:
        self.factory = factory
        self.lockout = lockout
        self.queue_limit = queue_limit
        self.failures = FailedSignIns()
        self._hashing = anyio.CapacityLimiter(hash_concurrency)

    @property
    def waiting(self) -> int:
        """Sign-ins waiting for a password check slot."""
        return int(self._hashing.statistics().tasks_waiting)

    async def sign_in(
        self,
        username: str,
        password: str,
        *,
        ttl: timedelta,
        via: str,
        client: str,
        label: str = "login",
    ) -> SignedIn | None:
        """A token valid for ``ttl``, or None when the credentials are wrong.

        Raises :class:`TooManyRequests` when the account is locked or too many sign-ins
        already wait for the password hasher. ``via`` names the route (``api``,
        ``dashboard``), ``client`` the caller's address, ``label`` the token.
        """
        retry = self.lockout.retry_after(username)
        if retry:
            self.failures.note(username, client, via, locked=True)
            raise TooManyRequests(
                f"too many failed sign-ins for this account; try again in {retry} s",
                retry_after=retry,
            )
        if self.waiting >= self.queue_limit:
            raise TooManyRequests("too many sign-ins at once; try again shortly", retry_after=1)
        account = None
        if _lookup_safe(username):
            account = await anyio.to_thread.run_sync(self._find, username)
        matches = await anyio.to_thread.run_sync(_check, account, password, limiter=self._hashing)
        if account is None or not matches:
            self.lockout.failed(username)
            self.failures.note(username, client, via)
            return None
        self.lockout.succeeded(username)
        return await anyio.to_thread.run_sync(self._issue, account.user_id, ttl, via, label)

    def _find(self, username: str) -> _Account | None:
        with self.factory() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                return None
            return _Account(user.id, user.password_hash)

    def _issue(self, user_id: int, ttl: timedelta, via: str, label: str) -> SignedIn | None:
        with self.factory() as session, session.begin():
            user = session.get(User, user_id)
            if user is None or not user.active:  # deactivated while the hash was checked
                return None
            token = issue_token(session, user, ttl, label)
            record_action(
                session,
                actor=user.username,
                role=user.role.value,
                action="auth.login",
                target=f"user:{user.username}",
                details={"via": via},
            )
            return SignedIn(token, datetime.now(UTC) + ttl, user.role)

    def flush(self) -> int:
        """Write the failed sign-ins counted so far, one audit record per account, client
        and route, in one transaction; returns how many records were written."""
        counts = self.failures.drain()
        if not counts:
            return 0
        with self.factory() as session, session.begin():
            for (account, client, via), count in sorted(counts.items()):
                record_action(
                    session,
                    actor=account or "?",
                    role="anonymous",
                    action="auth.login_failed",
                    target=f"user:{account}",
                    details={
                        "via": via,
                        "client": client,
                        "failures": count.failures,
                        "refused_while_locked": count.refused_while_locked,
                        "first": count.first.isoformat(),
                        "last": count.last.isoformat(),
                    },
                )
        return len(counts)

    async def keep_flushing(self, every: float) -> None:
        """Flush every ``every`` seconds until cancelled (then once more)."""
        try:
            while True:
                await anyio.sleep(every)
                await self._flush_logged()
        finally:
            with anyio.CancelScope(shield=True):
                await self._flush_logged()

    async def _flush_logged(self) -> None:
        try:
            await anyio.to_thread.run_sync(self.flush)
        except Exception:  # the database is down: the counts of this window are lost
            logger.exception("could not record failed sign-ins")


def _check(account: _Account | None, password: str) -> bool:
    """Check ``password``; with no account, spend the same effort (timing must not tell
    which names exist)."""
    if account is None:
        hash_password(password)
        return False
    return verify_password(account.password_hash, password)
