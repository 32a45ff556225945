"""Server user accounts: administrators list, create and deactivate them (all audited).

A deactivated user's tokens stop working at once (:func:`server.services.auth.principal_for_token`
refuses inactive users) and are revoked as well.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update

from lineside.contract import IDENTIFIER
from server.api.deps import AdminUser, SessionDep
from server.api.routes.audit import Reason, RequiredReason, audit_action
from server.db.models import ApiToken, Organisation, User
from server.services.auth import Role, hash_password

router = APIRouter(tags=["users"])


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=1, max_length=100, pattern=IDENTIFIER.pattern)
    password: str = Field(min_length=8, max_length=1000, repr=False)
    role: Role
    display_name: str = Field(default="", max_length=200)
    organisation_id: int | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    organisation_id: int | None
    active: bool
    created_at: datetime


@router.get("/users", response_model=list[UserOut])
def list_users(
    session: SessionDep,
    _: AdminUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[User]:
    """User accounts by id (never their password hashes)."""
    return list(session.scalars(select(User).order_by(User.id).limit(limit).offset(offset)))


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, session: SessionDep, user: AdminUser, reason: Reason = "") -> User:
    """Create an account with a role (the password is stored as an argon2id hash)."""
    if session.scalar(select(User.id).where(User.username == body.username)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user {body.username!r} already exists")
    if body.organisation_id is not None and session.get(Organisation, body.organisation_id) is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"organisations: no {body.organisation_id!r}"
        )
    row = User(
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        organisation_id=body.organisation_id,
        password_hash=hash_password(body.password),
    )
    session.add(row)
    session.flush()
    audit_action(
        session,
        user,
        "user.create",
        f"user:{row.username}",
        reason=reason,
        details={"role": row.role.value, "organisation_id": row.organisation_id},
    )
    return row


@router.post("/users/{user_id}/deactivate", response_model=UserOut)
def deactivate_user(
    user_id: int, session: SessionDep, user: AdminUser, reason: RequiredReason
) -> User:
    """Disable an account and revoke its tokens, saying why."""
    row = session.get(User, user_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"users: no {user_id}")
    if row.id == user.user_id:
        raise HTTPException(status.HTTP_409_CONFLICT, "administrators cannot deactivate themselves")
    if row.active:
        row.active = False
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == row.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        audit_action(session, user, "user.deactivate", f"user:{row.username}", reason=reason)
    return row
