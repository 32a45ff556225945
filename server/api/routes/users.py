"""Server user accounts: administrators list, create and deactivate them (all audited)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from lineside.contract import IDENTIFIER
from server.api.deps import AdminUser, Reason, RequiredReason, SessionDep
from server.db.models import User
from server.services import users
from server.services.auth import Role

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
    return users.list_users(session, limit=limit, offset=offset)


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, session: SessionDep, user: AdminUser, reason: Reason = "") -> User:
    """Create an account with a role (the password is stored as an argon2id hash)."""
    return users.create_user(session, user, **body.model_dump(), reason=reason)


@router.post("/users/{user_id}/deactivate", response_model=UserOut)
def deactivate_user(
    user_id: int, session: SessionDep, user: AdminUser, reason: RequiredReason
) -> User:
    """Disable an account and revoke its tokens, saying why."""
    return users.deactivate_user(session, user, user_id, reason=reason)
