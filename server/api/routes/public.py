"""Health, metrics and sign-in: the routes that need no token (all rate limited)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from server.api.deps import AnyUser, SessionDep, SettingsDep, bearer_token, rate_limited
from server.audit import record_action
from server.db.models import ConsumerScan, DeadLetter, Event, Line, Product
from server.services.auth import authenticate, issue_token, revoke_token
from server.services.metrics import RequestCounters, render_gauges

logger = logging.getLogger(__name__)

router = APIRouter(dependencies=[Depends(rate_limited)])


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str = ""


@router.get("/healthz", response_model=Health, tags=["operations"])
def healthz() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    tags=["operations"],
    responses={503: {"model": Health, "description": "The database is unreachable."}},
)
def readyz(request: Request, response: Response) -> Health:
    """The database answers; 503 when it does not."""
    try:
        with request.app.state.session_factory() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("readiness check failed: %s", exc)
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(status="unavailable", detail="database unreachable")
    return Health(status="ok")


@router.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
def metrics(request: Request, session: SessionDep) -> str:
    """Prometheus text: request counters and a few store sizes (no personal data)."""
    counters: RequestCounters = request.app.state.request_counters

    def count(model: type[Event | Line | Product | DeadLetter | ConsumerScan]) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    gauges = [
        ("lineside_events", "Events stored.", count(Event)),
        ("lineside_lines", "Lines registered.", count(Line)),
        ("lineside_products", "Products registered.", count(Product)),
        ("lineside_dead_letters", "MQTT messages that could not be stored.", count(DeadLetter)),
        ("lineside_consumer_scans", "Digital Link resolutions recorded.", count(ConsumerScan)),
    ]
    return counters.render() + render_gauges(gauges)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_at: datetime
    role: str


@router.post(
    "/auth/token",
    response_model=TokenOut,
    tags=["auth"],
    responses={401: {"description": "Wrong username or password."}},
)
def sign_in(
    body: Credentials, request: Request, session: SessionDep, settings: SettingsDep
) -> TokenOut:
    """Exchange a username and password for a bearer token (both outcomes are audited)."""
    user = authenticate(session, body.username, body.password)
    if user is None:
        # The request's transaction rolls back with the 401: record the failure in its own.
        with request.app.state.session_factory() as audit_session, audit_session.begin():
            record_action(
                audit_session,
                actor=body.username,
                role="anonymous",
                action="auth.login_failed",
                target=f"user:{body.username}",
                details={"via": "api"},
            )
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    ttl = timedelta(seconds=settings.token_ttl_seconds)
    token = issue_token(session, user, ttl)
    record_action(
        session,
        actor=user.username,
        role=user.role.value,
        action="auth.login",
        target=f"user:{user.username}",
        details={"via": "api"},
    )
    return TokenOut(access_token=token, expires_at=datetime.now(UTC) + ttl, role=user.role.value)


class Me(BaseModel):
    username: str
    role: str
    organisation_id: int | None


@router.get("/auth/me", response_model=Me, tags=["auth"])
def who_am_i(user: AnyUser) -> Me:
    """The signed-in user."""
    return Me(username=user.username, role=user.role.value, organisation_id=user.organisation_id)


@router.post("/auth/logout", status_code=204, tags=["auth"])
def sign_out(
    session: SessionDep,
    _: AnyUser,
    token: Annotated[str | None, Depends(bearer_token)],
) -> Response:
    """Revoke the token used for this request."""
    if token:
        revoke_token(session, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
