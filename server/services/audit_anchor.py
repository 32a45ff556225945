"""Anchors of the audit trail outside the database: signed checkpoints of its head.

The hash chain (:mod:`lineside.audit`) shows an edited or deleted record, but someone who
can write the database can also rewrite every record after the one they changed, hashes
included, and the chain is whole again. So the server signs the head of its chain every
few minutes (Ed25519, a key in a file the database cannot reach) and appends the
checkpoint to a JSON-lines file opened for appending only, and queues it for the portal.
Each checkpoint lists the hashes of the records it adds since the one before, so
verification names the first altered record, not only the checkpoint that disagrees.

>>> key = generate_key()
>>> cp = sign_checkpoint(key, seq=2, from_seq=1, hashes=["a" * 64, "b" * 64],
...                      at=datetime(2026, 12, 1, tzinfo=UTC))
>>> check_signature(cp, key.public_key()) is None
True
>>> forged = cp.model_copy(update={"hashes": ["a" * 64, "c" * 64], "hash": "c" * 64})
>>> check_signature(forged, key.public_key())
'the signature does not match its content'
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lineside.audit import AuditRecord, verify_chain
from lineside.backoff import Backoff
from lineside.errors import ConfigError, LinesideError
from server.db.models import AuditCheckpointOutboxEntry, AuditEntry, AuditHead, OutboxState
from server.services.audit import HEAD_ID, VERIFY_BATCH, as_record
from server.services.background import BackgroundThread

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


class AnchorError(LinesideError):
    """A checkpoint cannot be made: the new records do not chain, or the file is unusable."""


class Checkpoint(BaseModel):
    """The signed head of the audit chain, with the hashes of the records it adds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = CHECKPOINT_VERSION
    at: datetime
    #: The first record whose hash is in ``hashes`` (the previous checkpoint's ``seq`` + 1).
    from_seq: int = Field(ge=1)
    seq: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hashes: tuple[str, ...]
    key_id: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        content = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- keys


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of its SHA-256."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def write_new_key(path: Path) -> Ed25519PrivateKey:
    """A new signing key in ``path`` (PEM, mode 0600); never overwrites a key."""
    key = generate_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"{path}: a key is there already; it is never overwritten") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create: {exc.strerror}") from exc
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(f"audit_signing_key_file: cannot read {path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"audit_signing_key_file: {path} is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"audit_signing_key_file: {path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"--public-key: cannot read {path}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--public-key: {path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"--public-key: {path} is not an Ed25519 key")
    return key


# --------------------------------------------------------------------------- checkpoints


def sign_checkpoint(
    key: Ed25519PrivateKey, *, seq: int, from_seq: int, hashes: Sequence[str], at: datetime
) -> Checkpoint:
    """A checkpoint of head ``seq`` covering the records ``from_seq``..``seq``."""
    unsigned = Checkpoint(
        at=at,
        from_seq=from_seq,
        seq=seq,
        hash=hashes[-1],
        hashes=tuple(hashes),
        key_id=key_id(key.public_key()),
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return unsigned.model_copy(update={"signature": signature})


def check_signature(checkpoint: Checkpoint, public: Ed25519PublicKey) -> str | None:
    """What is wrong with ``checkpoint``'s signature, or ``None`` when it holds."""
    if checkpoint.key_id != key_id(public):
        return f"signed with key {checkpoint.key_id}, not {key_id(public)}"
    try:
        public.verify(base64.b64decode(checkpoint.signature), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        return "the signature does not match its content"
    return None


def _records_after(session: Session, after: int) -> Iterator[list[AuditRecord]]:
    while True:
        rows = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.seq > after)
                .order_by(AuditEntry.seq)
                .limit(VERIFY_BATCH)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield [as_record(row) for row in rows]
        after = rows[-1].seq


def _record(session: Session, seq: int) -> AuditRecord | None:
    row = session.get(AuditEntry, seq)
    return None if row is None else as_record(row)


def make_checkpoint(
    session: Session, key: Ed25519PrivateKey, last: Checkpoint | None, at: datetime | None = None
) -> Checkpoint | None:
    """A checkpoint of the records after ``last`` (``None``: nothing new).

    Refuses (:class:`AnchorError`) to sign records that do not chain on from ``last``:
    a checkpoint must never vouch for a trail that was already altered.
    """
    head = session.execute(select(AuditHead.seq).where(AuditHead.id == HEAD_ID)).scalar()
    after = 0 if last is None else last.seq
    if head is None or head <= after:
        return None
    previous = None if last is None else _record(session, last.seq)
    if last is not None and (previous is None or previous.hash != last.hash):
        raise AnchorError(f"record {last.seq} no longer has the hash its checkpoint signed")
    hashes: list[str] = []
    for batch in _records_after(session, after):
        batch = [r for r in batch if r.seq <= head]
        breaks = verify_chain(batch, start=previous)
        if breaks:
            raise AnchorError(f"not signing a broken trail: {breaks[0]}")
        hashes += [r.hash for r in batch]
        if not batch or batch[-1].seq >= head:
            break
        previous = batch[-1]
    if not hashes:
        return None
    return sign_checkpoint(
        key,
        seq=after + len(hashes),
        from_seq=after + 1,
        hashes=hashes,
        at=at or datetime.now(UTC),
    )


# --------------------------------------------------------------------------- the file


def read_checkpoints(path: Path) -> list[tuple[int, Checkpoint | str]]:
    """(line number, checkpoint or what is wrong with the line) for every line of ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"audit_checkpoint_file: cannot read {path}: {exc}") from exc
    found: list[tuple[int, Checkpoint | str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append((number, Checkpoint.model_validate_json(line)))
        except ValidationError as exc:
            found.append((number, f"not a checkpoint: {exc.errors()[0]['msg']}"))
    return found


def last_checkpoint(path: Path) -> Checkpoint | None:
    """The newest well-formed checkpoint of the file."""
    for _, item in reversed(read_checkpoints(path)):
        if isinstance(item, Checkpoint):
            return item
    return None


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line (O_APPEND, fsync): the file is never rewritten."""
    line = checkpoint.model_dump_json() + "\n"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(descriptor, line.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise AnchorError(f"audit_checkpoint_file: cannot append to {path}: {exc}") from exc


# --------------------------------------------------------------------------- verification


@dataclass
class AnchorReport:
    """The outcome of :func:`verify_against_checkpoints`."""

    records: int = 0
    #: The newest record a valid checkpoint vouches for (0: none).
    anchored_seq: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    #: The first record that differs from what was signed, or breaks the chain.
    first_altered: int | None = None

    @property
    def intact(self) -> bool:
        return not self.problems

    def _altered(self, seq: int, problem: str) -> None:
        self.problems.append(problem)
        if self.first_altered is None or seq < self.first_altered:
            self.first_altered = seq


def _anchored_hashes(
    entries: list[tuple[int, Checkpoint | str]], public: Ed25519PublicKey, report: AnchorReport
) -> dict[int, tuple[str, Checkpoint]]:
    anchored: dict[int, tuple[str, Checkpoint]] = {}
    expected_from = 1
    for number, item in entries:
        if isinstance(item, str):
            report.problems.append(f"checkpoint file line {number}: {item}")
            continue
        wrong = check_signature(item, public)
        if wrong is None and (
            len(item.hashes) != item.seq - item.from_seq + 1 or item.hashes[-1] != item.hash
        ):
            wrong = "its hashes do not add up to its head"
        if wrong is not None:
            report.problems.append(f"checkpoint file line {number}: {wrong}")
            continue
        if item.from_seq != expected_from:
            report.problems.append(
                f"checkpoint file line {number}: starts at record {item.from_seq}, "
                f"record {expected_from} expected (a checkpoint is missing)"
            )
        for offset, digest in enumerate(item.hashes):
            anchored[item.from_seq + offset] = (digest, item)
        expected_from = item.seq + 1
        report.checkpoints += 1
        report.anchored_seq = max(report.anchored_seq, item.seq)
    return anchored


def verify_against_checkpoints(
    session: Session, entries: list[tuple[int, Checkpoint | str]], public: Ed25519PublicKey
) -> AnchorReport:
    """Recompute the stored chain and compare every record with the signed checkpoints."""
    report = AnchorReport()
    anchored = _anchored_hashes(entries, public, report)
    previous: AuditRecord | None = None
    seen: set[int] = set()
    for batch in _records_after(session, 0):
        for problem, record in _chain_breaks(batch, previous):
            report._altered(record.seq, problem)
        for record in batch:
            seen.add(record.seq)
            signed = anchored.get(record.seq)
            if signed is not None and signed[0] != record.hash:
                report._altered(
                    record.seq,
                    f"record {record.seq} ({record.action} by {record.actor}): differs from the "
                    f"checkpoint signed at {signed[1].at.isoformat()}",
                )
        report.records += len(batch)
        previous = batch[-1]
    for seq in sorted(set(anchored) - seen):
        report._altered(seq, f"record {seq}: signed in a checkpoint but missing from the database")
    return report


def _chain_breaks(
    batch: list[AuditRecord], previous: AuditRecord | None
) -> Iterator[tuple[str, AuditRecord]]:
    before = previous
    for record in batch:
        for problem in verify_chain([record], start=before):
            yield problem, record
        before = record


# --------------------------------------------------------------------------- periodically


@dataclass(frozen=True, slots=True)
class AnchorTarget:
    """Where checkpoints go and what signs them."""

    key_file: Path
    checkpoint_file: Path
    #: The portal's checkpoint URL (``None``: the file only).
    portal_url: str | None = None
    portal_token: str | None = field(default=None, repr=False)


#: Waits between attempts to send a checkpoint to the portal; it never gives up.
PORTAL_BACKOFF = Backoff(initial=30.0, factor=2.0, maximum=3600.0, jitter=0.1, attempts=None)


def checkpoint_now(session: Session, target: AnchorTarget) -> Checkpoint | None:
    """Sign the records added since the file's last checkpoint, append the result to the
    file and, with a portal, to its outbox (in ``session``'s transaction)."""
    key = load_private_key(target.key_file)
    checkpoint = make_checkpoint(session, key, last_checkpoint(target.checkpoint_file))
    if checkpoint is not None:
        append_checkpoint(target.checkpoint_file, checkpoint)
        if target.portal_url is not None:
            session.add(
                AuditCheckpointOutboxEntry(
                    seq=checkpoint.seq, document=checkpoint.model_dump(mode="json")
                )
            )
    return checkpoint


def forward_checkpoints(
    session_factory: sessionmaker[Session],
    target: AnchorTarget,
    client: httpx.Client,
    now: datetime | None = None,
) -> int:
    """POST each due checkpoint of the outbox to the portal, oldest first; how many were
    sent. A refused one waits (:data:`PORTAL_BACKOFF`) and keeps the newer ones behind it."""
    if target.portal_url is None:
        return 0
    moment = now or datetime.now(UTC)
    headers = {"Authorization": f"Bearer {target.portal_token}"} if target.portal_token else {}
    with session_factory() as session:
        due = session.scalars(
            select(AuditCheckpointOutboxEntry)
            .where(AuditCheckpointOutboxEntry.state == OutboxState.PENDING)
            .order_by(AuditCheckpointOutboxEntry.seq)
        ).all()
    sent = 0
    for entry in due:
        if entry.next_attempt_at > moment:
            break
        try:
            answer = client.post(target.portal_url, json=entry.document, headers=headers)
            error = None if answer.is_success else f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        with session_factory() as session, session.begin():
            row = session.get(AuditCheckpointOutboxEntry, entry.seq)
            if row is None:
                break
            row.attempts += 1
            if error is None:
                row.state, row.sent_at, row.last_error = OutboxState.SENT, moment, ""
            else:
                row.last_error = error
                row.next_attempt_at = moment + timedelta(seconds=PORTAL_BACKOFF.delay(row.attempts))
        if error is not None:
            logger.warning("audit checkpoint %d not taken by the portal: %s", entry.seq, error)
            break
        sent += 1
    return sent


class AnchorWorker(BackgroundThread):
    """A background thread making a checkpoint every ``interval_s`` seconds."""

    name = "audit-anchor"

    def __init__(
        self, session_factory: sessionmaker[Session], target: AnchorTarget, interval_s: float
    ) -> None:
        super().__init__()
        self._session_factory = session_factory
        self._target = target
        self._interval_s = interval_s

    def start(self) -> None:
        load_private_key(self._target.key_file)  # a bad key stops the start, not a log line
        super().start()

    def run_once(self) -> Checkpoint | None:
        with self._session_factory() as session, session.begin():
            return checkpoint_now(session, self._target)

    def _run(self) -> None:
        with httpx.Client(timeout=30.0) as client:
            while not self._stopping.is_set():
                self._round(client)
                self._stopping.wait(self._interval_s)

    def _round(self, client: httpx.Client) -> None:
        try:
            made = self.run_once()
        except LinesideError as exc:
            logger.error("audit checkpoint refused: %s", exc)
        except Exception:  # the database may be down; try again next round
            logger.exception("audit checkpoint failed")
        else:
            if made is not None:
                logger.info("audit checkpoint up to record %d", made.seq)
        try:
            forward_checkpoints(self._session_factory, self._target, client)
        except Exception:  # the portal or the database may be down; next round
            logger.exception("audit checkpoints not forwarded")
