"""Typed dependencies shared by the routers: settings and a database session.

A route takes ``session: SessionDep`` and gets a session that commits when the route
returns normally and rolls back when it raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from server.settings import ServerSettings


def get_settings(request: Request) -> ServerSettings:
    """The settings the app was created with."""
    settings: ServerSettings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session for one request: committed on success, rolled back on error."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session, session.begin():
        yield session


SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
# "function" scope: the commit happens before the response is sent, so a failed commit
# becomes an error response rather than a lie.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
