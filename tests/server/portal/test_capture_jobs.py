"""Forwarding to an EPCIS 2.0 capture interface that answers 202 and a capture job.

The portal here is a small HTTP server on a real port that behaves as the EPCIS 2.0
REST binding says: ``POST /capture`` answers 202 with the ``Location`` of a capture job,
and ``GET /capture/{id}`` reports it running for a few polls, then finished with
success or with errors.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import OutboxState
from server.db.types import utcnow
from server.portal import PortalTarget, forward_due, outbox_status
from tests.server.portal.test_forwarder import _seed, _states


@dataclass
class CaptureInterface:
    """What the fake portal was sent, and how its next jobs end."""

    port: int = 0
    outcome: str = "success"  # or "failure"
    polls_before_done: int = 2
    posts: list[dict[str, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/epcis/capture"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/epcis/capture")
        async def capture(request: Request) -> JSONResponse:
            document: dict[str, Any] = await request.json()
            self.posts.append(dict(request.headers))
            job = f"job-{len(self.posts)}"
            self.polls[job] = 0
            self.outcomes[job] = self.outcome
            if self.outcome == "success":
                events = document["epcisBody"]["eventList"]
                self.events.extend(event["eventID"] for event in events)
            return JSONResponse({}, status_code=202, headers={"Location": f"capture/{job}"})

        @app.get("/epcis/capture/{job}")
        def job_state(job: str) -> JSONResponse:
            if job not in self.polls:
                return JSONResponse({"title": "no such job"}, status_code=404)
            self.polls[job] += 1
            running = self.polls[job] <= self.polls_before_done
            failed = self.outcomes[job] == "failure"
            body: dict[str, Any] = {
                "captureID": job,
                "running": running,
                "success": not running and not failed,
                "captureErrorBehaviour": "rollback",
                "errors": (
                    [{"type": "epcisException:ValidationException", "title": "bad event"}]
                    if failed and not running
                    else []
                ),
            }
            return JSONResponse(body)

        return app


@pytest.fixture
def portal() -> Iterator[CaptureInterface]:
    interface = CaptureInterface()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        interface.port = probe.getsockname()[1]
    config = uvicorn.Config(
        interface.app(), host="127.0.0.1", port=interface.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield interface
    server.should_exit = True
    thread.join()


def _target(portal: CaptureInterface, **overrides: Any) -> PortalTarget:
    settings: dict[str, Any] = {
        "name": "national",
        "url": portal.url,
        "job_poll_s": 0.01,
        "job_poll_max_s": 0.05,
        "base_backoff_s": 30,
    }
    settings.update(overrides)
    return PortalTarget(**settings)


def test_a_202_is_followed_to_its_capture_job_and_delivered_when_it_succeeds(
    session: Session, session_factory: sessionmaker[Session], portal: CaptureInterface
) -> None:
    ids = _seed(session, 3)
    with httpx.Client() as client:
        result = forward_due(session_factory, _target(portal), client, utcnow())
    assert result.sent == 3
    assert portal.polls == {"job-1": 3}  # running, running, then finished
    assert sorted(portal.events) == sorted(ids)
    assert _states(session_factory) == {OutboxState.SENT: 3}


def test_a_capture_job_that_fails_leaves_the_batch_pending_with_its_errors(
    session: Session, session_factory: sessionmaker[Session], portal: CaptureInterface
) -> None:
    _seed(session, 2)
    portal.outcome = "failure"
    with httpx.Client() as client:
        result = forward_due(session_factory, _target(portal), client, utcnow())
    assert result.retried == 2
    assert _states(session_factory) == {OutboxState.PENDING: 2}
    with session_factory() as check:
        (status,) = outbox_status(check)
    assert "failed" in status.last_error
    assert "ValidationException" in status.last_error


def test_a_job_still_running_at_the_deadline_is_not_delivered(
    session: Session, session_factory: sessionmaker[Session], portal: CaptureInterface
) -> None:
    _seed(session, 1)
    portal.polls_before_done = 10_000
    target = _target(portal, job_timeout_s=0.2)
    with httpx.Client() as client:
        result = forward_due(session_factory, target, client, utcnow())
    assert result.retried == 1
    with session_factory() as check:
        (status,) = outbox_status(check)
    assert "still running" in status.last_error


def test_the_gs1_version_headers_are_sent(
    session: Session, session_factory: sessionmaker[Session], portal: CaptureInterface
) -> None:
    _seed(session, 1)
    with httpx.Client() as client:
        forward_due(session_factory, _target(portal, token="s3cret"), client, utcnow())
    (headers,) = portal.posts
    assert headers["gs1-epcis-version"] == "2.0.0"
    assert headers["gs1-cbv-version"] == "2.0.0"
    assert headers["gs1-capture-error-behaviour"] == "rollback"
    assert headers["authorization"] == "Bearer s3cret"


def test_stopping_the_worker_abandons_the_poll_and_keeps_the_batch(
    session: Session, session_factory: sessionmaker[Session], portal: CaptureInterface
) -> None:
    _seed(session, 1)
    portal.polls_before_done = 10_000
    with httpx.Client() as client:
        result = forward_due(
            session_factory, _target(portal), client, utcnow(), wait=lambda _seconds: True
        )
    assert result.retried == 1
    assert _states(session_factory) == {OutboxState.PENDING: 1}
