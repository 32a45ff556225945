"""The operator screen: a touch panel's local web page served by the agent.

``create_app(engine, config)`` builds the FastAPI application; there is no module-level
app. The page (Vietnamese by default, English with ``?lang=en``) is made for a 1024x600
touch panel beside the line and loads nothing from any other host. It shows the line's
name and a local clock, the work order and its approved label, speed against target,
units remaining and the estimated finish, the shift's OEE, rejects by reason and the
reject bin, device tiles, alarms (acknowledged by the operator; a history with durations)
and the last reads, updated live over Server-Sent Events (:mod:`edge.web.view`).

Start, pause, close, void and reprint ask for a confirmation, the operator's PIN and a
reason; an operator signs in for the shift with a PIN. Refusals come back as JSON with
the engine's English ``detail`` and a message ``code`` the page translates
(:mod:`edge.web.messages`).

>>> # app = create_app(engine, config); uvicorn.Server(uvicorn.Config(app)).serve()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from edge.config import LineConfig
from edge.engine import LineEngine
from edge.pin_guard import PinGuard
from edge.verdicts import EngineError, Phase
from edge.web.messages import describe
from edge.web.shift import RejectBin, Shift
from edge.web.view import LinkProbe, Links, snapshot

__all__ = ["Links", "create_app"]

logger = logging.getLogger(__name__)


#: The page loads nothing from any other host: it works on a line with no internet.
_CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'"


class Signed(BaseModel):
    """An action only an operator may take: their PIN."""

    pin: str = Field(min_length=4, max_length=12)


class LineAction(Signed):
    """Start, pause or close: the PIN, and a reason (not needed to start)."""

    reason: str = Field(default="", max_length=200)


class OperatorAction(Signed):
    """Void or reprint one unit's label."""

    serial: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=200)


class Acknowledge(BaseModel):
    """Acknowledging an alarm: the PIN, unless an operator signed in for the shift."""

    pin: str = Field(default="", max_length=12)


class Refused(Exception):
    """An operator request the screen refuses (HTTP ``status``)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def _refusal(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    message = describe(detail)
    return JSONResponse(
        {"detail": detail, "code": message.code, "params": message.params},
        status_code=status,
        headers=headers,
    )


class _Screen:
    """The screen's own state: the shift, the reject bin and the agent's links."""

    def __init__(self, engine: LineEngine, config: LineConfig, links: LinkProbe | None) -> None:
        self.engine = engine
        self.config = config
        self.links = links or (lambda: Links(server_configured=config.server is not None))
        self.shift = self.new_shift(None)
        self.bin = RejectBin()
        self.pin_guard = PinGuard()
        # The shift's clock follows the line, whether or not a page is open.
        engine.subscribe(self.observe)

    def observe(self) -> None:
        c = self.engine.counters
        self.shift.observe(
            running=self.engine.phase is Phase.RUNNING,
            good=c.commissioned,
            rejected=c.rejected,
            now=time.monotonic(),
        )
        self.bin.observe(c.rejected)

    def new_shift(self, operator: str | None) -> Shift:
        started = datetime.now(UTC) if operator else None
        return Shift(
            target_per_minute=self.config.web.target_per_minute,
            now=time.monotonic(),
            operator=operator,
            started_at=started,
        )

    def operator(self, pin: str) -> str:
        """The operator whose PIN this is; PINs are refused for a while after repeated
        failures (:class:`~edge.pin_guard.PinGuard`)."""
        wait = self.pin_guard.retry_after()
        if wait is not None:
            seconds = str(math.ceil(wait))
            raise Refused(429, f"PIN locked; try again in {seconds} s", {"Retry-After": seconds})
        operator = self.config.operator_for_pin(pin)
        if operator is None:
            self.pin_guard.failed()
            logger.warning("wrong operator PIN on the screen")
            raise Refused(403, "wrong PIN")
        self.pin_guard.succeeded()
        return operator.name

    def audit(self, operator: str, action: str, target: str, reason: str = "") -> None:
        self.engine.journal.audit.append(
            operator=operator, action=action, target=target, reason=reason
        )

    def state(self) -> dict[str, Any]:
        self.bin.observe(self.engine.counters.rejected)
        return snapshot(
            self.engine, self.config, self.shift, self.links(), reject_bin=self.bin.count
        )

    def order_target(self) -> str:
        order = self.engine.order
        return f"work_order:{order.id}" if order else "line"


def create_app(
    engine: LineEngine, config: LineConfig, *, links: LinkProbe | None = None
) -> FastAPI:
    """The operator screen application for one engine (``links``: the broker's state)."""
    app = FastAPI(title="Lineside operator screen", docs_url=None, redoc_url=None)
    static = resources.files("edge.web").joinpath("static")
    page = static.joinpath("index.html").read_text(encoding="utf-8")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    screen = _Screen(engine, config, links)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return _refusal(exc.status, exc.detail, exc.headers)

    @app.exception_handler(EngineError)
    async def engine_refused(request: Request, exc: EngineError) -> JSONResponse:
        return _refusal(409, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        detail = f"invalid input: {', '.join(fields) or 'body'}"
        body = {"detail": detail, "code": "invalid_input", "params": {"fields": ",".join(fields)}}
        return JSONResponse(body, status_code=422)

    @app.get("/", response_class=HTMLResponse)
    async def index(lang: str = "") -> HTMLResponse:
        language = lang if lang in ("vi", "en") else config.web.language
        return HTMLResponse(
            page.replace("{{LANG}}", language), headers={"Content-Security-Policy": _CSP}
        )

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/state")
    async def state() -> dict[str, Any]:
        return screen.state()

    @app.get("/api/label.png")
    async def label_png() -> Response:
        """The current work order's unit label, as rendered and approved by the preflight."""
        approved = engine.labels.approved if engine.labels is not None else None
        if approved is None:
            raise Refused(404, "no approved label yet")
        return Response(approved.png(), media_type="image/png")

    @app.get("/api/stream")
    async def stream(request: Request) -> StreamingResponse:
        changed = asyncio.Event()
        engine.subscribe(changed.set)

        async def events() -> AsyncIterator[bytes]:
            try:
                while not engine.stop_requested and not await request.is_disconnected():
                    data = json.dumps(screen.state(), ensure_ascii=False)
                    yield f"data: {data}\n\n".encode()
                    changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), timeout=1.0)
                    await asyncio.sleep(0.2)  # at most five updates a second
            finally:
                engine.unsubscribe(changed.set)

        return StreamingResponse(events(), media_type="text/event-stream")

    _add_actions(app, screen)
    return app


def _add_actions(app: FastAPI, screen: _Screen) -> None:
    """The operator's requests: sign-in, line actions, voids, acknowledgements."""

    @app.post("/api/shift/sign-in")
    async def sign_in(body: Signed) -> dict[str, Any]:
        name = screen.operator(body.pin)
        screen.shift = screen.new_shift(name)
        screen.audit(name, "sign_in", "line")
        return screen.state()

    @app.post("/api/shift/sign-out")
    async def sign_out(body: Signed) -> dict[str, Any]:
        name = screen.operator(body.pin)
        screen.audit(name, "sign_out", "line", f"shift of {screen.shift.operator or '-'}")
        screen.shift = screen.new_shift(None)
        return screen.state()

    @app.post("/api/start")
    async def start(body: LineAction) -> dict[str, Any]:
        name = screen.operator(body.pin)
        screen.engine.start(operator=name)
        screen.audit(name, "start", screen.order_target(), body.reason)
        return screen.state()

    @app.post("/api/pause")
    async def pause(body: LineAction) -> dict[str, Any]:
        name = screen.operator(body.pin)
        if not body.reason.strip():
            raise Refused(422, "a reason is required")
        if screen.engine.phase is not Phase.RUNNING:
            raise Refused(409, "the line is not running")
        screen.engine.pause(f"operator: {body.reason.strip()}")
        screen.audit(name, "pause", screen.order_target(), body.reason)
        return screen.state()

    @app.post("/api/close")
    async def close(body: LineAction) -> dict[str, Any]:
        name = screen.operator(body.pin)
        if not body.reason.strip():
            raise Refused(422, "a reason is required")
        if screen.engine.order is None:
            raise Refused(409, "no work order is loaded")
        screen.audit(name, "close_requested", screen.order_target(), body.reason)
        await screen.engine.close(operator=name)
        return screen.state()

    @app.post("/api/void")
    async def void(body: OperatorAction) -> dict[str, Any]:
        name = screen.operator(body.pin)
        screen.engine.void(body.serial, reason=body.reason, operator=name)
        return screen.state()

    @app.post("/api/reprint")
    async def reprint(body: OperatorAction) -> dict[str, Any]:
        name = screen.operator(body.pin)
        screen.engine.reprint(body.serial, reason=body.reason, operator=name)
        return screen.state()

    @app.post("/api/alarms/{alarm_id}/acknowledge")
    async def acknowledge(alarm_id: int, body: Acknowledge) -> dict[str, Any]:
        name = screen.shift.operator if not body.pin else screen.operator(body.pin)
        if name is None:
            raise Refused(403, "wrong PIN")
        span = screen.engine.alarms.acknowledge(alarm_id, name, datetime.now(UTC))
        if span is None:
            raise Refused(404, f"no active alarm {alarm_id}")
        screen.audit(name, "acknowledge", f"alarm:{span.code.value}")
        return screen.state()

    @app.post("/api/reject-bin/empty")
    async def empty_bin(body: Signed) -> dict[str, Any]:
        name = screen.operator(body.pin)
        screen.audit(name, "empty_reject_bin", "line", f"{screen.bin.count} units")
        screen.bin.empty()
        return screen.state()
