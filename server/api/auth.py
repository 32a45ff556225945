"""Who may call what: password hashing, signed bearer tokens and role checks.

Tokens are stateless: ``base64url(json payload) "." base64url(HMAC-SHA256)`` signed with
``ServerSettings.secret_key``. A route declares who may call it with :func:`require_role`::

    @router.post("/recalls")
    def create_recall(user: Annotated[Principal, Depends(require_role(Role.INSPECTOR))]): ...

Administrators pass every role check. The dashboard pages (GET only) also accept the
same token from the ``lineside_session`` cookie set by ``/login``; writes never do, so a
forged cross-site form cannot act with a logged-in browser's cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.settings import ServerSettings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "lineside_session"


class Role(StrEnum):
    """The roles a user can hold."""

    ADMINISTRATOR = "administrator"
    TECHNICIAN = "technician"
    OPERATOR = "operator"
    INSPECTOR = "inspector"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    username: str
    role: Role


class TokenError(Exception):
    """A bearer token is malformed, forged or expired (message says which)."""


def hash_password(password: str) -> str:
    """Hash ``password`` with argon2id.

    >>> verify_password(hash_password("s3cret"), "s3cret")
    True
    """
    return PasswordHasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; malformed hashes never match."""
    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode("ascii"), hashlib.sha256).digest())


def issue_token(settings: ServerSettings, principal: Principal, now: float | None = None) -> str:
    """A signed token for ``principal`` valid for ``settings.token_ttl_seconds``.

    >>> s = ServerSettings(secret_key="k")
    >>> read_token(s, issue_token(s, Principal("an", Role.AUDITOR))).role
    <Role.AUDITOR: 'auditor'>
    """
    issued = time.time() if now is None else now
    payload = {
        "sub": principal.username,
        "role": principal.role.value,
        "exp": int(issued + settings.token_ttl_seconds),
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_sign(settings.secret_key.get_secret_value(), body)}"


def read_token(settings: ServerSettings, token: str, now: float | None = None) -> Principal:
    """The principal a token was issued to; :class:`TokenError` when it cannot be trusted."""
    body, dot, signature = token.partition(".")
    if not dot or not body or not signature:
        raise TokenError("token is not of the form payload.signature")
    expected = _sign(settings.secret_key.get_secret_value(), body)
    if not hmac.compare_digest(expected, signature):
        raise TokenError("token signature does not match")
    try:
        payload = json.loads(_unb64(body))
        username = str(payload["sub"])
        role = Role(payload["role"])
        expires = int(payload["exp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("token payload is malformed") from exc
    if (time.time() if now is None else now) >= expires:
        raise TokenError("token has expired")
    return Principal(username=username, role=role)


_bearer = HTTPBearer(auto_error=False, description="Token from POST /auth/token")


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the bearer token (or the session cookie on safe requests)."""
    settings: ServerSettings = request.app.state.settings
    token: str | None = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = credentials.credentials
    elif request.method in {"GET", "HEAD"}:
        token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return read_token(settings, token)
    except TokenError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            str(exc),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from exc


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits administrators and the given roles, and refuses others.

    With no roles, any authenticated user is admitted.
    """
    allowed = frozenset(roles) | {Role.ADMINISTRATOR}

    def check(principal: PrincipalDep) -> Principal:
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
#: Administrators only.
AdminUser = Annotated[Principal, Depends(require_role(Role.ADMINISTRATOR))]
#: Those who change master data and line set-up.
TechnicianUser = Annotated[Principal, Depends(require_role(Role.TECHNICIAN))]
#: Those who run lines (work orders, serial blocks).
OperatorUser = Annotated[
    Principal, Depends(require_role(Role.OPERATOR, Role.TECHNICIAN))
]
#: Those who inspect and recall.
InspectorUser = Annotated[Principal, Depends(require_role(Role.INSPECTOR))]
#: Those who read traces, dashboards and reports.
ReaderUser = Annotated[
    Principal,
    Depends(require_role(Role.INSPECTOR, Role.AUDITOR, Role.TECHNICIAN, Role.OPERATOR)),
]
