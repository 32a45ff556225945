"""Server user accounts: list, create and deactivate them (every change audited).

A deactivated user's tokens stop working at once
(:func:`server.services.auth.principal_for_token` refuses inactive users) and are
revoked as well.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db.models import ApiToken, Organisation, User, UserRole
from server.errors import Conflict, NotFound
from server.services.audit import Actor, audit_action
from server.services.auth import Principal, hash_password


def list_users(session: Session, *, limit: int, offset: int) -> list[User]:
    """User accounts by id."""
    return list(session.scalars(select(User).order_by(User.id).limit(limit).offset(offset)))


def create_user(  # noqa: PLR0917 - one call site, every field of an account
    session: Session,
    actor: Actor,
    username: str,
    password: str,
    role: UserRole,
    display_name: str = "",
    organisation_id: int | None = None,
    *,
    reason: str = "",
) -> User:
    """Create an account; the password is stored as an argon2id hash."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    if organisation_id is not None and session.get(Organisation, organisation_id) is None:
        raise NotFound(f"organisations: no {organisation_id!r}")
    row = User(
        username=username,
        display_name=display_name,
        role=role,
        organisation_id=organisation_id,
        password_hash=hash_password(password),
    )
    session.add(row)
    session.flush()
    audit_action(
        session,
        actor,
        "user.create",
        f"user:{row.username}",
        reason=reason,
        details={"role": row.role.value, "organisation_id": row.organisation_id},
    )
    return row


def deactivate_user(session: Session, actor: Principal, user_id: int, *, reason: str) -> User:
    """Disable an account and revoke its tokens; administrators cannot disable themselves."""
    row = session.get(User, user_id)
    if row is None:
        raise NotFound(f"users: no {user_id}")
    if row.id == actor.user_id:
        raise Conflict("administrators cannot deactivate themselves")
    if row.active:
        row.active = False
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == row.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        audit_action(session, actor, "user.deactivate", f"user:{row.username}", reason=reason)
    return row
