"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zones and no JSONB; these types hide the difference so that the
models, the repositories and the tests see one behaviour everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: JSON on SQLite, JSONB on PostgreSQL.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")

#: A 64-bit auto-incrementing key; SQLite only auto-increments ``INTEGER PRIMARY KEY``.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC ``datetime``.

    Naive values are refused: a traceability record without a time zone is ambiguous.

    >>> UtcDateTime().process_bind_param(datetime(2026, 1, 2, 3, 4, tzinfo=UTC), None)
    datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc)
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone")
        value = value.astimezone(UTC)
        if dialect is not None and dialect.name == "sqlite":
            # SQLite compares timestamps as text: one fixed format keeps ordering right.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


def utcnow() -> datetime:
    """The current time as an aware UTC ``datetime`` (column defaults use it)."""
    return datetime.now(UTC)
