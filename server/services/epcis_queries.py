"""Named EPCIS queries (``/epcis/queries``): a simple event query stored under a name,
run through ``/epcis/queries/{name}/events`` and subscribed to.

A definition is ``{"name": ..., "query": {...}}``; the query's members are the simple
query's parameters, each a value or a list of values (``"EQ_bizStep": ["shipping",
"receiving"]``); an ``EXISTS_`` parameter takes ``true``.

>>> query_items({"EQ_bizStep": ["shipping", "receiving"], "EXISTS_errorDeclaration": True})
[('EQ_bizStep', 'shipping|receiving'), ('EXISTS_errorDeclaration', '')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.db.models import NamedQuery, QuerySubscription
from server.errors import (
    NoSuchNameException,
    QueryParameterException,
    ResourceAlreadyExistsException,
    ValidationException,
)
from server.services import epcis
from server.services.tenancy import PROVINCE, Scope

__all__ = [
    "QueriesPage",
    "create_query",
    "delete_query",
    "get_query",
    "list_queries",
    "query_items",
    "query_json",
    "run_query",
]

_NAME = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")
#: Parameters a named query's ``events`` resource takes beside its own definition.
_PAGING = ("perPage", "nextPageToken")
#: Subscription parameters: they mean something on a WebSocket only, and are ignored on
#: a plain ``GET``.
_SUBSCRIPTION = frozenset(
    {
        "stream",
        "reportIfEmpty",
        "initialRecordTime",
        "second",
        "minute",
        "hour",
        "dayOfMonth",
        "month",
        "dayOfWeek",
    }
)


def _value_text(name: str, value: object) -> str:
    if isinstance(value, bool):
        if name.startswith("EXISTS_") and value:
            return ""
        raise QueryParameterException(f"{name}: true/false is only a value of EXISTS_ parameters")
    if isinstance(value, str | int | float):
        return str(value)
    raise QueryParameterException(f"{name}: a value must be a string, a number or a list of them")


def query_items(query: dict[str, Any]) -> list[tuple[str, str]]:
    """A query definition as ``(name, value)`` query parameters (lists joined by ``|``)."""
    items: list[tuple[str, str]] = []
    for name, value in query.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise QueryParameterException(f"{name}: an empty list matches nothing")
        items.append((name, "|".join(_value_text(name, v) for v in values)))
    return items


def _check_definition(body: object) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, dict):
        raise ValidationException("a query definition must be a JSON object")
    name, query = body.get("name"), body.get("query")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationException(
            "name must be 1 to 200 letters, digits or '.', '_', '~', '-' (it is part of a URL)"
        )
    if not isinstance(query, dict):
        raise ValidationException("query must be a JSON object of simple-query parameters")
    unknown = sorted(set(body) - {"name", "query"})
    if unknown:
        raise ValidationException(f"unknown member(s) of a query definition: {unknown[:5]}")
    epcis.check_query(query_items(query))  # refused now rather than on every run
    return name, query


def create_query(session: Session, body: object) -> NamedQuery:
    """Store a named query; ``ResourceAlreadyExistsException`` if the name is taken."""
    name, query = _check_definition(body)
    if session.get(NamedQuery, name) is not None:
        raise ResourceAlreadyExistsException(f"a query named {name!r} already exists")
    stored = NamedQuery(name=name, query=query)
    session.add(stored)
    session.flush()
    return stored


def get_query(session: Session, name: str) -> NamedQuery:
    """One named query; ``NoSuchResourceException`` otherwise."""
    found = session.get(NamedQuery, name)
    if found is None:
        raise NoSuchNameException(f"no query named {name!r:.200}")
    return found


def delete_query(session: Session, name: str) -> None:
    """Remove a named query and every subscription to it."""
    found = get_query(session, name)
    session.execute(delete(QuerySubscription).where(QuerySubscription.query_name == name))
    session.delete(found)
    session.flush()


def query_json(query: NamedQuery) -> dict[str, Any]:
    """A named query as the standard's JSON."""
    return {"name": query.name, "query": query.query}


@dataclass(frozen=True, slots=True)
class QueriesPage:
    """One page of named queries and the next page's token."""

    queries: list[NamedQuery]
    next_page_token: str | None


def list_queries(session: Session, items: Iterable[tuple[str, str]]) -> QueriesPage:
    """The named queries by name, paged with ``perPage`` and ``nextPageToken``."""
    per_page, offset = epcis.paging(items, "/queries")
    rows = list(
        session.scalars(
            select(NamedQuery).order_by(NamedQuery.name).offset(offset).limit(per_page + 1)
        )
    )
    more = len(rows) > per_page
    token = epcis.encode_page_token(offset + per_page) if more else None
    return QueriesPage(rows[:per_page], token)


def run_query(
    session: Session,
    name: str,
    items: Iterable[tuple[str, str]],
    domains: Sequence[str] = (),
    scope: Scope = PROVINCE,
) -> epcis.QueryPage:
    """The events of a named query (with ``perPage`` and ``nextPageToken``) within
    ``scope``: a business user reads only its organisation's."""
    query = get_query(session, name)
    extra = [(name, value) for name, value in items if name not in _SUBSCRIPTION]
    for parameter, _ in extra:
        if parameter not in _PAGING:
            raise QueryParameterException(
                f"{parameter!r:.80} is not a parameter of a named query's events; "
                "the query is defined by its definition"
            )
    return epcis.query_events(session, [*query_items(query.query), *extra], domains, scope)
