"""Typed dependencies shared by the routers: settings, a database session, the caller.

A route takes ``session: SessionDep`` and gets a session that commits when the route
returns normally and rolls back when it raises. A route that only reads what lines
captured (traces, resolver look-ups) takes ``read: ReadSessionDep`` as well or instead:
a session on the read replica when one is configured and keeps up, else the request's
own session on the primary (:mod:`server.db.replica`). Anything written goes through
``SessionDep``: the replica's connections are read-only. It declares who may call it with a
principal type (``user: OperatorUser``) or :func:`require_role`::

    @router.post("/recalls")
    def create_recall(user: Annotated[Principal, Depends(require_role(Role.INSPECTOR))]): ...

Administrators pass every role check. What a caller may reach is its scope
(``scope: ScopeDep``, :mod:`server.services.tenancy`): business users their own
organisation, everyone else the province; routes hand it to the services, which apply it
to every query. The dashboard pages (GET only) also accept the
token from the ``lineside_session`` cookie set by ``/login``; writes never do, so a forged
cross-site form cannot act with a signed-in browser's cookie.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from server.db.replica import ReadReplica
from server.errors import NotAllowed, NotSignedIn, TooManyRequests
from server.services.auth import Principal, Role, principal_for_token
from server.services.commands import CommandPublisher
from server.services.metrics import ServerMetrics
from server.services.ratelimit import TokenBuckets
from server.services.signin import SignInDesk
from server.services.tenancy import Scope, scope_for
from server.settings import ServerSettings

#: The cookie that carries the dashboard's token.
SESSION_COOKIE = "lineside_session"


def get_settings(request: Request) -> ServerSettings:
    """The settings the app was created with."""
    settings: ServerSettings = request.app.state.settings
    return settings


def get_session_factory(request: Request) -> sessionmaker[Session]:
    """The app's session factory, for work in a transaction of its own."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def get_session(
    factory: Annotated[sessionmaker[Session], Depends(get_session_factory)],
) -> Iterator[Session]:
    """A session for one request: committed on success, rolled back on error."""
    with factory() as session, session.begin():
        yield session


def get_read_replica(request: Request) -> ReadReplica | None:
    """The app's read replica, ``None`` when every read goes to the primary."""
    replica: ReadReplica | None = request.app.state.read_replica
    return replica


def get_read_session(
    replica: Annotated[ReadReplica | None, Depends(get_read_replica)],
    session: Annotated[Session, Depends(get_session, scope="function")],
) -> Iterator[Session]:
    """A session for reads: on the replica while it keeps up, else the request's session
    on the primary (which opens no connection until it is used)."""
    if replica is None:
        yield session
        return
    with replica.session() as read:
        yield session if read is None else read


def get_command_publisher(request: Request) -> CommandPublisher:
    """Where commands to lines go."""
    publisher: CommandPublisher = request.app.state.command_publisher
    return publisher


def get_metrics(request: Request) -> ServerMetrics:
    """The app's metrics (``/metrics``)."""
    metrics: ServerMetrics = request.app.state.metrics
    return metrics


def get_sign_in_desk(request: Request) -> SignInDesk:
    """Where credentials are checked (``POST /auth/token``, ``POST /login``)."""
    desk: SignInDesk = request.app.state.sign_in_desk
    return desk


def client_address(request: Request) -> str:
    """The caller's address: the peer's, or the one a trusted proxy forwarded."""
    return request.client.host if request.client is not None else "unknown"


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
# "function" scope: the commit happens before the response is sent, so a failed commit
# becomes an error response rather than a lie.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
#: Reads of captured data: the replica while it keeps up, else the primary.
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
PublisherDep = Annotated[CommandPublisher, Depends(get_command_publisher)]
MetricsDep = Annotated[ServerMetrics, Depends(get_metrics)]
SignInDeskDep = Annotated[SignInDesk, Depends(get_sign_in_desk)]


def rate_limited(request: Request) -> None:
    """Dependency for public routes: :class:`TooManyRequests` (429) when the caller's IP
    has spent its bucket."""
    buckets: TokenBuckets = request.app.state.rate_limiter
    if not buckets.take(client_address(request)):
        raise TooManyRequests(
            "too many requests from this address; try again shortly",
            retry_after=max(1, round(1 / buckets.rate_per_second)),
        )


# --------------------------------------------------------------------------- the caller

_bearer = HTTPBearer(auto_error=False, description="A token from POST /auth/token")


def bearer_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """The bearer token of the request (or the session cookie on GET/HEAD)."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return credentials.credentials
    if request.method in {"GET", "HEAD"}:
        return request.cookies.get(SESSION_COOKIE) or None
    return None


def get_principal(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(bearer_token)]
) -> Principal:
    """The caller; :class:`NotSignedIn` (401) when the token is missing or cannot be trusted.

    The principal is also left in ``request.state.principal`` for routes whose access
    check is a router dependency (the EPCIS capture records who captured).
    """
    if not token:
        raise NotSignedIn("a bearer token is required")
    principal = principal_for_token(session, token)
    if principal is None:
        raise NotSignedIn("the bearer token is unknown, expired or revoked", invalid_token=True)
    request.state.principal = principal
    return principal


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting administrators and the given roles; others get
    :class:`NotAllowed` (403).

    With no roles, any signed-in user is admitted.
    """
    allowed = frozenset(roles) | {Role.ADMINISTRATOR}

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if roles and principal.role not in allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise NotAllowed(
                f"role {principal.role.value!r} may not do this; needs one of: {names}"
            )
        return principal

    return check


def caller_scope(principal: Annotated[Principal, Depends(get_principal)]) -> Scope:
    """The organisation the caller is limited to (none for province-wide roles)."""
    return scope_for(principal)


#: What the caller may see and change.
ScopeDep = Annotated[Scope, Depends(caller_scope)]
#: Any signed-in user.
AnyUser = Annotated[Principal, Depends(require_role())]
#: Administrators only (users).
AdminUser = Annotated[Principal, Depends(require_role(Role.ADMINISTRATOR))]
#: Who changes master data and line set-up.
TechnicianUser = Annotated[Principal, Depends(require_role(Role.TECHNICIAN))]
#: Who runs lines: work orders and serial blocks.
OperatorUser = Annotated[Principal, Depends(require_role(Role.OPERATOR, Role.TECHNICIAN))]
#: Who inspects and recalls.
InspectorUser = Annotated[Principal, Depends(require_role(Role.INSPECTOR))]
#: Who reads traces, dashboards and reports.
ReaderUser = Annotated[
    Principal,
    Depends(require_role(Role.INSPECTOR, Role.AUDITOR, Role.TECHNICIAN, Role.OPERATOR)),
]
#: Who may read the audit trail.
AuditReader = Annotated[Principal, Depends(require_role(Role.INSPECTOR, Role.AUDITOR))]

# --------------------------------------------------------------------------- reasons

#: Why a change is made; kept in the audit trail.
Reason = Annotated[
    str, Query(max_length=2000, description="Why this change is made (kept in the audit trail).")
]
#: The same, for actions that must say why (deletes, recalls).
RequiredReason = Annotated[
    str,
    Query(
        min_length=1,
        max_length=2000,
        description="Why this is done (required; kept in the audit trail).",
    ),
]
