"""The operator screen: a touch-friendly local web page served by the agent.

``create_app(engine, config)`` builds the FastAPI application; there is no module-level
app. The page (Vietnamese by default, English with ``?lang=en``) shows the work order, the
counters, the rate per minute, the last reads and the alarms, updated live over Server-Sent
Events, and has start / pause / close buttons and void / reprint forms that need a reason
and an operator PIN (checked against the hashed PINs of the line configuration).

>>> # app = create_app(engine, config); uvicorn.Server(uvicorn.Config(app)).serve()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from edge.config import LineConfig
from edge.engine import LineEngine
from edge.pin_guard import PinGuard
from edge.verdicts import EngineError

logger = logging.getLogger(__name__)


class OperatorAction(BaseModel):
    serial: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=200)
    pin: str = Field(min_length=4, max_length=12)


def snapshot(engine: LineEngine) -> dict[str, Any]:
    """What the screen shows, as JSON-ready data."""
    order = engine.order
    c = engine.counters
    return {
        "phase": engine.phase.value,
        "pause_reason": engine.pause_reason,
        "work_order": None
        if order is None
        else {
            "id": order.id,
            "product": order.product.name_vi,
            "product_en": order.product.name_en,
            "gtin": order.product.gtin,
            "lot": order.lot,
            "quantity": order.quantity,
            "expiry": order.expiry_date.isoformat() if order.expiry_date else None,
        },
        "counters": {
            "printed": c.printed,
            "verified": c.commissioned,
            "rejected": c.rejected,
            "voided": c.voided,
            "cases": c.cases,
            "pallets": c.pallets,
        },
        "in_flight": engine.in_flight,
        "print_quality": engine.quality.snapshot(),
        "rate_per_minute": engine.rate_per_minute(),
        "last_reads": [
            {"at": r.at.isoformat(), "text": r.text, "verdict": r.verdict}
            for r in list(engine.last_reads)[:10]
        ],
        "alarms": [
            {
                "at": a.at.isoformat(),
                "code": a.code.value,
                "severity": a.severity.value,
                "message": a.message,
            }
            for a in list(engine.alarms)[:10]
        ],
    }


def create_app(engine: LineEngine, config: LineConfig) -> FastAPI:
    """The operator screen application for one engine."""
    app = FastAPI(title="Lineside operator screen", docs_url=None, redoc_url=None)
    page = resources.files("edge.web").joinpath("static/index.html").read_text(encoding="utf-8")

    guard = PinGuard()
    app.state.pin_guard = guard

    def _operator(pin: str) -> str:
        wait = guard.retry_after()
        if wait is not None:
            seconds = math.ceil(wait)
            raise HTTPException(
                status_code=429,
                detail=f"Mã PIN bị khoá do nhập sai nhiều lần; thử lại sau {seconds} giây "
                f"(PIN locked after repeated failures; try again in {seconds} s)",
                headers={"Retry-After": str(seconds)},
            )
        operator = config.operator_for_pin(pin)
        if operator is None:
            guard.failed()
            logger.warning("wrong operator PIN on the screen")
            raise HTTPException(status_code=403, detail="wrong PIN")
        guard.succeeded()
        return operator.name

    def _do(action: Any) -> dict[str, Any]:
        try:
            action()
        except EngineError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return snapshot(engine)

    @app.get("/", response_class=HTMLResponse)
    async def index(lang: str = "") -> HTMLResponse:
        language = lang if lang in ("vi", "en") else config.web.language
        return HTMLResponse(page.replace("{{LANG}}", language))

    @app.get("/api/state")
    async def state() -> dict[str, Any]:
        return snapshot(engine)

    @app.get("/api/label.png")
    async def label_png() -> Response:
        """The current work order's unit label, as rendered and approved by the preflight."""
        approved = engine.labels.approved if engine.labels is not None else None
        if approved is None:
            raise HTTPException(status_code=404, detail="no approved label yet")
        return Response(approved.png(), media_type="image/png")

    @app.get("/api/stream")
    async def stream(request: Request) -> StreamingResponse:
        changed = asyncio.Event()
        engine.subscribe(changed.set)

        async def events() -> AsyncIterator[bytes]:
            while not engine.stop_requested and not await request.is_disconnected():
                yield f"data: {json.dumps(snapshot(engine), ensure_ascii=False)}\n\n".encode()
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=1.0)
                await asyncio.sleep(0.2)  # at most five updates a second
            engine.unsubscribe(changed.set)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/api/start")
    async def start() -> dict[str, Any]:
        return _do(engine.start)

    @app.post("/api/pause")
    async def pause() -> dict[str, Any]:
        return _do(lambda: engine.pause("operator"))

    @app.post("/api/close")
    async def close() -> dict[str, Any]:
        try:
            await engine.close(operator="screen")
        except EngineError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from exc
        return snapshot(engine)

    @app.post("/api/void")
    async def void(body: OperatorAction) -> dict[str, Any]:
        name = _operator(body.pin)
        return _do(lambda: engine.void(body.serial, reason=body.reason, operator=name))

    @app.post("/api/reprint")
    async def reprint(body: OperatorAction) -> dict[str, Any]:
        name = _operator(body.pin)
        return _do(lambda: engine.reprint(body.serial, reason=body.reason, operator=name))

    return app
