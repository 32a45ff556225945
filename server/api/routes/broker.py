"""Broker identities of lines: administrators enrol, rotate and revoke them.

The password is in the answer to enrolment and rotation only (``Cache-Control:
no-store``); the server keeps no copy. The broker itself (Mosquitto's dynamic security)
holds the users, their topics and their bound client IDs.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from lineside.errors import ConfigError, DeviceError
from lineside.mqtt import BrokerEndpoint
from server.api.deps import AdminUser, Reason, RequiredReason, SessionDep, SettingsDep
from server.services import broker_identity
from server.settings import ServerSettings

router = APIRouter(tags=["lines"])


class EnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Client ID the agent uses (default lineside-edge-<site>-<line>).",
    )


class BrokerCredentialsOut(BaseModel):
    site: str
    line: str
    username: str
    client_id: str
    password: str = Field(description="Shown once: put it in the agent's password file.")


class BrokerNotConfigured(DeviceError):
    """The server has no broker administrator to change the broker's users with."""


def _endpoint(settings: ServerSettings) -> BrokerEndpoint:
    try:
        return settings.broker_admin_endpoint()
    except ConfigError as exc:
        raise BrokerNotConfigured(f"the server cannot change broker users: {exc}") from exc


def _out(credentials: broker_identity.LineCredentials, response: Response) -> BrokerCredentialsOut:
    response.headers["Cache-Control"] = "no-store"
    return BrokerCredentialsOut(
        site=credentials.site,
        line=credentials.line,
        username=credentials.username,
        client_id=credentials.client_id,
        password=credentials.password,
    )


@router.post(
    "/lines/{line_id}/broker-credentials", response_model=BrokerCredentialsOut, status_code=201
)
def enrol_line(  # noqa: PLR0917 - FastAPI passes each parameter by name
    line_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
    response: Response,
    body: EnrolIn | None = None,
    reason: Reason = "",
) -> BrokerCredentialsOut:
    """Create the line's broker user, topics and bound client ID; 409 if it has them."""
    broker_identity.line_site(session, line_id)  # 404 before asking the broker
    credentials = broker_identity.enrol_line_record(
        session,
        _endpoint(settings),
        broker_identity.UserActor(user),
        line_id,
        client_id=body.client_id if body is not None else None,
        reason=reason,
    )
    return _out(credentials, response)


@router.post("/lines/{line_id}/broker-credentials/rotate", response_model=BrokerCredentialsOut)
def rotate_line(  # noqa: PLR0917 - FastAPI passes each parameter by name
    line_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
    response: Response,
    reason: Reason = "",
) -> BrokerCredentialsOut:
    """A new password for the line; the broker disconnects its current session."""
    broker_identity.line_site(session, line_id)
    credentials = broker_identity.enrol_line_record(
        session,
        _endpoint(settings),
        broker_identity.UserActor(user),
        line_id,
        rotate=True,
        reason=reason,
    )
    return _out(credentials, response)


@router.delete("/lines/{line_id}/broker-credentials", status_code=204)
def revoke_line(
    line_id: str,
    session: SessionDep,
    settings: SettingsDep,
    user: AdminUser,
    reason: RequiredReason,
) -> Response:
    """Delete the line's broker user and topics; the broker disconnects it at once."""
    broker_identity.line_site(session, line_id)
    broker_identity.revoke_line_record(
        session, _endpoint(settings), broker_identity.UserActor(user), line_id, reason
    )
    return Response(status_code=204)
