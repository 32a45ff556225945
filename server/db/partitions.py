"""Yearly partitions of ``events`` on PostgreSQL (see migration 0010).

Events of a year without a partition land in the default partition and are still
stored, traced and refused when redelivered; :func:`ensure_event_partitions` gives
this year and the next (and any year found in the default partition) their own
partition, moving the rows there. ``migrate`` runs it, and so does
``lineside-server partitions``, which a yearly timer (or any deploy) should run.
SQLite stores keep one plain table: there it does nothing.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

#: Years outside this range stay in the default partition (stray timestamps).
_FIRST_YEAR = 2000


def is_partitioned(connection: Connection) -> bool:
    """Whether ``events`` is a partitioned table here."""
    if connection.dialect.name != "postgresql":
        return False
    found = connection.scalar(
        text(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            " WHERE c.relname = 'events' AND c.relnamespace = current_schema()::regnamespace"
        )
    )
    return found is not None


def ensure_event_partitions(connection: Connection, ahead: int = 1) -> list[int]:
    """Create the missing yearly partitions; returns the years created.

    The partitions cover this year (UTC), ``ahead`` years after it, and every year
    from 2000 on that has rows in the default partition. The caller owns the
    transaction.
    """
    if not is_partitioned(connection):
        return []
    this_year = int(
        connection.scalar(text("SELECT extract(year FROM now() AT TIME ZONE 'UTC')")) or 0
    )
    held = connection.scalars(
        text(
            "SELECT DISTINCT extract(year FROM event_time AT TIME ZONE 'UTC')::integer"
            " FROM events_default"
        )
    )
    last = this_year + ahead
    wanted = set(range(this_year, last + 1)) | {y for y in held if _FIRST_YEAR <= y <= last}
    made: list[int] = []
    for year in sorted(wanted):
        created = connection.scalar(
            text("SELECT lineside_event_partitions(:year, :year)"), {"year": year}
        )
        if created:
            made.append(year)
    return made


def is_partition(name: str | None) -> bool:
    """Whether ``name`` is one of the partitions of ``events`` (not in the models).

    >>> is_partition("events_y2026"), is_partition("events_default"), is_partition("events")
    (True, True, False)
    """
    return name is not None and re.fullmatch(r"events_(y\d{4}|default)", name) is not None


def include_object(
    item: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's ``include_object`` hook: leave the partitions and their indexes out."""
    table = item if kind == "table" else getattr(item, "table", None)
    return not is_partition(name if kind == "table" else getattr(table, "name", None))
