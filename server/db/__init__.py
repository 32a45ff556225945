"""The aggregator's storage: models, engines, migrations and repositories.

>>> from server.db import make_engine, migrate
"""

from __future__ import annotations

from server.db.engine import make_engine, make_session_factory, normalise_url, transaction
from server.db.migrate import current_revision, downgrade, head_revision, migrate
from server.db.models import Base

__all__ = [
    "Base",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "migrate",
    "normalise_url",
    "transaction",
]
