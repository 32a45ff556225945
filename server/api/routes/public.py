"""Health, metrics and sign-in: the routes that need no token (all rate limited)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lineside.errors import InvalidInput
from server.api.deps import (
    AnyUser,
    MetricsDep,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
    SignInDeskDep,
    bearer_token,
    client_address,
    get_read_replica,
    rate_limited,
)
from server.db.replica import ReadReplica
from server.errors import NotSignedIn
from server.services.auth import revoke_token
from server.services.health import database_ready
from server.services.metrics import CONTENT_TYPE

router = APIRouter(dependencies=[Depends(rate_limited)])


class ReplicaHealth(BaseModel):
    serving: bool = Field(description="Whether trace and resolver reads go to the replica.")
    detail: str = Field(description="Why (not): streaming and its lag, lagging, unreachable.")
    lag_seconds: float | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str = ""


class Readiness(Health):
    replica: ReplicaHealth | None = Field(
        default=None,
        description="The read replica, when one is configured; while it is not serving, "
        "the primary serves its reads and the server stays ready.",
    )


@router.get("/healthz", response_model=Health, tags=["operations"])
def healthz() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    tags=["operations"],
    responses={503: {"model": Readiness, "description": "The database is unreachable."}},
)
def readyz(
    response: Response,
    factory: SessionFactoryDep,
    replica: Annotated[ReadReplica | None, Depends(get_read_replica)],
) -> Readiness:
    """The database answers; 503 when it does not. The read replica's state is reported
    but does not decide readiness: without it, the primary serves every read."""
    replica_health = None
    if replica is not None:
        state = replica.state()
        replica_health = ReplicaHealth(
            serving=state.usable, detail=state.detail, lag_seconds=state.lag_seconds
        )
    if not database_ready(factory):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Readiness(
            status="unavailable", detail="database unreachable", replica=replica_health
        )
    return Readiness(status="ok", replica=replica_health)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    tags=["operations"],
    responses={200: {"content": {CONTENT_TYPE: {}}}},
)
def metrics(server_metrics: MetricsDep) -> Response:
    """Prometheus text: request counters and a few store sizes (no personal data)."""
    return Response(server_metrics.render(), media_type=CONTENT_TYPE)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_at: datetime
    role: str


_TOKEN_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": Credentials.model_json_schema()},
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["username", "password"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["password"]},
                    "username": {"type": "string"},
                    "password": {"type": "string", "format": "password"},
                },
            }
        },
    },
}


async def read_credentials(request: Request) -> Credentials:
    """The credentials of a JSON body or of an OAuth2 password form
    (``application/x-www-form-urlencoded``, ``grant_type=password``)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    try:
        if content_type == "application/x-www-form-urlencoded":
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
            grant = (form.get("grant_type") or ["password"])[0]
            if grant != "password":
                raise InvalidInput(f"grant_type: only 'password' is supported, got {grant!r}")
            return Credentials(
                username=(form.get("username") or [""])[0],
                password=(form.get("password") or [""])[0],
            )
        return Credentials.model_validate_json(raw)
    except UnicodeDecodeError as exc:
        raise InvalidInput("the body is not UTF-8 text") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidInput(
            f"{where}: {first['msg']} (send JSON or an OAuth2 password form)"
        ) from exc


@router.post(
    "/auth/token",
    response_model=TokenOut,
    tags=["auth"],
    responses={
        401: {"description": "Wrong username or password."},
        422: {"description": "The body is neither credentials in JSON nor a password form."},
        429: {"description": "Too many failed sign-ins for this account, or at once."},
    },
    openapi_extra={"requestBody": _TOKEN_BODY},
)
async def create_token(
    request: Request,
    body: Annotated[Credentials, Depends(read_credentials)],
    settings: SettingsDep,
    desk: SignInDeskDep,
) -> TokenOut:
    """Exchange a username and password for a bearer token (both outcomes are audited;
    failures as counts per account and address). 429 while the account is locked.

    JSON (``{"username": ..., "password": ...}``) or an OAuth2 password form, as the
    *Authorize* button of ``/docs`` and OAuth2 clients send it.
    """
    ttl = timedelta(seconds=settings.token_ttl_seconds)
    signed = await desk.sign_in(
        body.username, body.password, ttl=ttl, via="api", client=client_address(request)
    )
    if signed is None:
        raise NotSignedIn("wrong username or password")
    return TokenOut(access_token=signed.token, expires_at=signed.expires_at, role=signed.role.value)


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
