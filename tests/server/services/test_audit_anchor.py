"""Anchored audit trail: signed checkpoints outside the database catch a chain that was
rewritten wholesale (every hash recomputed), and name the first altered record."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app
from lineside.audit import GENESIS, AuditRecord
from server.db.models import AuditCheckpointOutboxEntry, AuditEntry, AuditHead, OutboxState
from server.services.audit import HEAD_ID, record_action, verify_stored_chain
from server.services.audit_anchor import (
    AnchorError,
    AnchorTarget,
    AnchorWorker,
    checkpoint_now,
    forward_checkpoints,
    generate_key,
    read_checkpoints,
    verify_against_checkpoints,
    write_new_key,
)
from tests.support.broker import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("clean_db")
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def target(tmp_path: Path) -> AnchorTarget:
    key = tmp_path / "audit.key"
    write_new_key(key)
    return AnchorTarget(key, tmp_path / "checkpoints.jsonl")


def _append(factory: sessionmaker[Session], first: int, last: int) -> None:
    with factory() as session, session.begin():
        for n in range(first, last + 1):
            record_action(
                session,
                actor=f"user-{n}",
                role="administrator",
                action="product.update",
                target=f"product:{n}",
                reason=f"change {n}",
                at=T0 + timedelta(minutes=n),
            )


def _checkpoint(factory: sessionmaker[Session], target: AnchorTarget) -> None:
    with factory() as session, session.begin():
        assert checkpoint_now(session, target) is not None


def _rewrite_from(factory: sessionmaker[Session], first: int) -> None:
    """What someone with database access does: change record ``first`` and recompute the
    hash of it and of every record after it, and the head, so the chain is whole again."""
    with factory() as session, session.begin():
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        previous_hash = GENESIS
        for row in rows:
            if row.seq >= first:
                content = {
                    "seq": row.seq,
                    "at": row.at.replace(tzinfo=UTC) if row.at.tzinfo is None else row.at,
                    "actor": row.actor,
                    "role": row.role,
                    "action": row.action,
                    "target": row.target,
                    "reason": "nothing to see" if row.seq == first else row.reason,
                    "details": row.details,
                }
                draft = AuditRecord(**content, prev_hash=previous_hash, hash=GENESIS)
                record = draft.model_copy(update={"hash": draft.expected_hash()})
                session.execute(
                    update(AuditEntry)
                    .where(AuditEntry.seq == row.seq)
                    .values(reason=record.reason, prev_hash=record.prev_hash, hash=record.hash)
                )
                previous_hash = record.hash
            else:
                previous_hash = row.hash
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(hash=previous_hash))


def _verify(factory: sessionmaker[Session], target: AnchorTarget):  # type: ignore[no-untyped-def]
    from server.services.audit_anchor import load_private_key

    public = load_private_key(target.key_file).public_key()
    with factory() as session:
        return verify_against_checkpoints(session, read_checkpoints(target.checkpoint_file), public)


def test_an_intact_trail_verifies(
    session_factory: sessionmaker[Session], target: AnchorTarget
) -> None:
    _append(session_factory, 1, 5)
    _checkpoint(session_factory, target)
    _append(session_factory, 6, 8)
    _checkpoint(session_factory, target)
    with session_factory() as session, session.begin():
        assert checkpoint_now(session, target) is None  # nothing new
    report = _verify(session_factory, target)
    assert report.intact, report.problems
    assert (report.records, report.checkpoints, report.anchored_seq) == (8, 2, 8)
    lines = target.checkpoint_file.read_text().splitlines()
    assert [json.loads(line)["from_seq"] for line in lines] == [1, 6]


def test_a_wholesale_rewrite_is_caught_and_the_first_altered_record_named(
    session_factory: sessionmaker[Session], target: AnchorTarget
) -> None:
    _append(session_factory, 1, 6)
    _checkpoint(session_factory, target)
    _append(session_factory, 7, 9)
    _checkpoint(session_factory, target)
    _rewrite_from(session_factory, 4)
    with session_factory() as session:
        assert verify_stored_chain(session).intact  # the chain alone cannot tell
    report = _verify(session_factory, target)
    assert not report.intact
    assert report.first_altered == 4
    assert report.problems[0].startswith("record 4 (product.update by user-4): differs from")


def test_no_checkpoint_is_signed_over_an_altered_trail(
    session_factory: sessionmaker[Session], target: AnchorTarget
) -> None:
    _append(session_factory, 1, 3)
    _checkpoint(session_factory, target)
    _append(session_factory, 4, 5)
    _rewrite_from(session_factory, 2)
    with (
        session_factory() as session,
        session.begin(),
        pytest.raises(AnchorError, match="record 3 no longer has the hash its checkpoint signed"),
    ):
        checkpoint_now(session, target)
    assert _verify(session_factory, target).first_altered == 2


def test_deleted_records_are_named(
    session_factory: sessionmaker[Session], target: AnchorTarget
) -> None:
    _append(session_factory, 1, 4)
    _checkpoint(session_factory, target)
    with session_factory() as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 3))
        second = session.get(AuditEntry, 2)
        assert second is not None
        session.execute(update(AuditHead).values(seq=2, hash=second.hash))
    report = _verify(session_factory, target)
    assert report.first_altered == 3
    assert any("record 4: signed in a checkpoint but missing" in p for p in report.problems)


def test_an_edited_checkpoint_file_or_a_foreign_key_is_refused(
    session_factory: sessionmaker[Session], target: AnchorTarget, tmp_path: Path
) -> None:
    _append(session_factory, 1, 3)
    _checkpoint(session_factory, target)
    line = json.loads(target.checkpoint_file.read_text())
    line["hashes"][0] = "f" * 64
    target.checkpoint_file.write_text(json.dumps(line) + "\nnot json\n")
    report = _verify(session_factory, target)
    assert "checkpoint file line 1: the signature does not match its content" in report.problems
    assert any(p.startswith("checkpoint file line 2: not a checkpoint") for p in report.problems)
    other = generate_key().public_key()
    with session_factory() as session:
        foreign = verify_against_checkpoints(
            session, read_checkpoints(target.checkpoint_file), other
        )
    assert any("signed with key" in p for p in foreign.problems)


def test_the_worker_signs_periodically(
    session_factory: sessionmaker[Session], target: AnchorTarget
) -> None:
    _append(session_factory, 1, 2)
    worker = AnchorWorker(session_factory, target, interval_s=3600)
    assert worker.run_once() is not None
    assert worker.run_once() is None
    assert len(read_checkpoints(target.checkpoint_file)) == 1


def test_keygen_never_overwrites_a_key(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    first = CliRunner().invoke(app, ["server", "audit", "keygen", "--key", str(key)])
    assert first.exit_code == 0, first.output
    assert key.stat().st_mode & 0o077 == 0
    before = key.read_bytes()
    again = CliRunner().invoke(app, ["server", "audit", "keygen", "--key", str(key)])
    assert again.exit_code == 2
    assert "never overwritten" in again.output
    assert key.read_bytes() == before


def test_audit_verify_command_names_the_first_altered_record(
    session_factory: sessionmaker[Session],
    db_url: str,
    target: AnchorTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINESIDE_SERVER_DATABASE_URL", db_url)
    monkeypatch.setenv("LINESIDE_SERVER_AUDIT_SIGNING_KEY_FILE", str(target.key_file))
    monkeypatch.setenv("LINESIDE_SERVER_AUDIT_CHECKPOINT_FILE", str(target.checkpoint_file))
    _append(session_factory, 1, 5)
    made = CliRunner().invoke(app, ["server", "audit", "checkpoint"])
    assert made.exit_code == 0, made.output
    ok = CliRunner().invoke(app, ["server", "audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    _rewrite_from(session_factory, 3)
    bad = CliRunner().invoke(app, ["server", "audit", "verify", "--json"])
    assert bad.exit_code == 1
    body = json.loads(bad.stdout)
    assert body["first_altered"] == 3
    assert body["intact"] is False


class Portal:
    """A portal on a real port that keeps the checkpoints it is sent; refuses while down."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.down = False
        self.authorisations: list[str] = []
        api = FastAPI()

        @api.post("/audit-checkpoints")
        async def take(request: Request) -> Response:
            if self.down:
                return Response("busy", status_code=503)
            self.authorisations.append(request.headers.get("authorization", ""))
            self.received.append(await request.json())
            return Response(status_code=204)

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(api, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/audit-checkpoints"


@pytest.fixture
def portal() -> Iterator[Portal]:
    created = Portal()
    created.thread.start()
    wait_until(lambda: created.server.started, timeout=30, what="the portal to start")
    yield created
    created.server.should_exit = True
    created.thread.join()


def test_checkpoints_reach_the_portal_in_order_after_it_comes_back(
    session_factory: sessionmaker[Session], target: AnchorTarget, portal: Portal
) -> None:
    to_portal = replace(target, portal_url=portal.url, portal_token="portal-token-x")
    worker = AnchorWorker(session_factory, to_portal, interval_s=3600)
    portal.down = True
    _append(session_factory, 1, 2)
    assert worker.run_once() is not None
    _append(session_factory, 3, 4)
    assert worker.run_once() is not None
    with httpx.Client(timeout=10) as client:
        assert forward_checkpoints(session_factory, to_portal, client) == 0
        portal.down = False
        later = datetime.now(UTC) + timedelta(hours=2)
        assert forward_checkpoints(session_factory, to_portal, client, now=later) == 2
        assert forward_checkpoints(session_factory, to_portal, client, now=later) == 0
    assert [c["seq"] for c in portal.received] == [2, 4]
    assert portal.authorisations == ["Bearer portal-token-x"] * 2
    # The portal's copy verifies like the file, and catches a rewrite the same way.
    copy = target.checkpoint_file.with_name("portal-copy.jsonl")
    copy.write_text("".join(json.dumps(c) + "\n" for c in portal.received))
    _rewrite_from(session_factory, 3)
    from server.services.audit_anchor import load_private_key

    with session_factory() as session:
        report = verify_against_checkpoints(
            session, read_checkpoints(copy), load_private_key(target.key_file).public_key()
        )
    assert report.first_altered == 3
    with session_factory() as session:
        states = session.scalars(select(AuditCheckpointOutboxEntry.state)).all()
    assert set(states) == {OutboxState.SENT}


def test_the_server_signs_checkpoints_while_it_runs(
    session_factory: sessionmaker[Session], db_url: str, target: AnchorTarget
) -> None:
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import ServerSettings

    _append(session_factory, 1, 3)
    settings = ServerSettings(
        database_url=db_url,
        audit_signing_key_file=target.key_file,
        audit_checkpoint_file=target.checkpoint_file,
        audit_checkpoint_interval_s=3600,
    )
    with TestClient(create_app(settings, session_factory=session_factory)):
        wait_until(
            lambda: len(read_checkpoints(target.checkpoint_file)) == 1,
            what="the first checkpoint",
        )
    assert _verify(session_factory, target).anchored_seq == 3
