"""Whether the aggregator can serve: the database answers."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)


def database_ready(factory: sessionmaker[Session]) -> bool:
    """True when the database answers a trivial query; the failure is logged.

    >>> from server.db import make_engine, make_session_factory
    >>> engine = make_engine("sqlite://")
    >>> database_ready(make_session_factory(engine))
    True
    >>> engine.dispose()
    """
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("readiness check failed: %s", exc)
        return False
    return True
