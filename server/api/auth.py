"""Who may call what: password hashing, bearer tokens and role checks.

Tokens are random strings handed out by ``POST /auth/token``; the database keeps only
their SHA-256 (:class:`server.db.models.ApiToken`), so a leaked database leaks no token
and a token can be revoked. A route declares who may call it with :func:`require_role`::

    @router.post("/recalls")
    def create_recall(user: Annotated[Principal, Depends(require_role(Role.INSPECTOR))]): ...

Administrators pass every role check. The dashboard pages (GET only) also accept the
token from the ``lineside_session`` cookie set by ``/login``; writes never do, so a forged
cross-site form cannot act with a signed-in browser's cookie.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.deps import SessionDep
from server.db.models import ApiToken, User
from server.db.models import UserRole as Role

logger = logging.getLogger(__name__)

__all__ = [
    "SESSION_COOKIE",
    "Principal",
    "Role",
    "authenticate",
    "hash_password",
    "issue_token",
    "require_role",
    "verify_password",
]

SESSION_COOKIE = "lineside_session"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: int
    username: str
    role: Role
    organisation_id: int | None = None


def hash_password(password: str) -> str:
    """Hash ``password`` with argon2id.

    >>> verify_password(hash_password("s3cret"), "s3cret")
    True
    """
    return PasswordHasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; malformed or empty hashes never match.

    >>> verify_password("", "anything")
    False
    """
    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        # Spend the same effort as a real check: timing must not reveal usernames.
        hash_password(password)
        return None
    return user if verify_password(user.password_hash, password) else None


def issue_token(session: Session, user: User, ttl: timedelta, name: str = "login") -> str:
    """Create a token for ``user`` valid for ``ttl``; only its digest is stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=token_digest(token),
            user_id=user.id,
            name=name[:100],
            expires_at=datetime.now(UTC) + ttl,
        )
    )
    session.flush()
    return token


def revoke_token(session: Session, token: str) -> bool:
    """Revoke ``token``; False when it was unknown or already revoked."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    return True


def principal_for_token(session: Session, token: str) -> Principal | None:
    """The principal a token belongs to, or None if it is unknown, expired or revoked."""
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_digest(token))
    ).first()
    if row is None:
        return None
    api_token, user = row
    now = datetime.now(UTC)
    if api_token.revoked_at is not None or not user.active:
        return None
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    return Principal(user.id, user.username, user.role, user.organisation_id)


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
    """The caller; 401 when the token is missing or cannot be trusted.

    The principal is also left in ``request.state.principal`` for routes whose access
    check is a router dependency (the EPCIS capture records who captured).
    """
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = principal_for_token(session, token)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the bearer token is unknown, expired or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    request.state.principal = principal
    return principal


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting administrators and the given roles, refusing others with 403.

    With no roles, any signed-in user is admitted.
    """
    allowed = frozenset(roles) | {Role.ADMINISTRATOR}

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if roles and principal.role not in allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role.value!r} may not do this; needs one of: {names}",
            )
        return principal

    return check


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
