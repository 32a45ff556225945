"""Who the caller is: password hashing, bearer tokens and the principal they stand for.

Tokens are random strings handed out by ``POST /auth/token``; the database keeps only
their SHA-256 (:class:`server.db.models.ApiToken`), so a leaked database leaks no token
and a token can be revoked. The role checks that routes declare are in
:mod:`server.api.deps`.

>>> token_digest("abc")[:16]
'ba7816bf8f01cfea'
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import ApiToken, User
from server.db.models import UserRole as Role

logger = logging.getLogger(__name__)

__all__ = [
    "Principal",
    "Role",
    "SignedIn",
    "hash_password",
    "issue_token",
    "principal_for_token",
    "revoke_token",
    "token_digest",
    "verify_password",
]


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


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A successful sign-in: the new token, when it expires and the user's role.

    Sign-in itself is :class:`server.services.signin.SignInDesk`.
    """

    token: str
    expires_at: datetime
    role: Role
