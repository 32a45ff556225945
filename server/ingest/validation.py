"""EPCIS checks applied to every event before it is stored (MQTT and capture alike).

:func:`event_problems` runs :func:`lineside.epcis.validate_document` (structure, CBV
vocabulary, the standard's rules, and the JSON schema when configured) on a one-event
document, after the checks the store relies on; it returns human-readable problems,
empty when the event is acceptable.

>>> check = default_validator()
>>> print(check({"type": "ObjectEvent", "action": "MOVE"})[0])
action: 'MOVE' is not one of ADD, OBSERVE, DELETE
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lineside import contract
from lineside.epcis import validate_document
from lineside.epcis.validate import SCHEMA_ENV, EPCISSchema

logger = logging.getLogger(__name__)

_ACTIONS = ("ADD", "OBSERVE", "DELETE")
_OFFSET = re.compile(r"^[+-](?:0\d|1[0-4]):[0-5]\d$")
_NEEDS_ACTION = frozenset(
    {"ObjectEvent", "AggregationEvent", "TransactionEvent", "AssociationEvent"}
)
_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def as_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap events in a minimal EPCIS 2.0 document (for validation and forwarding)."""
    return {
        "@context": [_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2000-01-01T00:00:00Z",
        "epcisBody": {"eventList": events},
    }


def basic_problems(event: dict[str, Any]) -> list[str]:
    """The checks every event must pass, whatever the schema validator says.

    >>> basic_problems({"type": "ObjectEvent", "action": "ADD",
    ...     "eventTime": "2026-01-01T00:00:00Z", "eventTimeZoneOffset": "+07:00"})
    []
    """
    problems: list[str] = []
    event_type = event.get("type")
    if event_type not in contract.EVENT_TYPES:
        problems.append(f"type: {event_type!r:.60} is not an EPCIS 2.0 event type")
    action = event.get("action")
    if event_type in _NEEDS_ACTION and action not in _ACTIONS:
        problems.append(f"action: {action!r:.60} is not one of {', '.join(_ACTIONS)}")
    offset = event.get("eventTimeZoneOffset")
    if not isinstance(offset, str) or not _OFFSET.match(offset):
        problems.append(f"eventTimeZoneOffset: {offset!r:.60} is not like '+07:00'")
    if not isinstance(event.get("eventTime"), str):
        problems.append("eventTime: missing")
    return problems


def event_problems(event: dict[str, Any]) -> list[str]:
    """Basic checks, then :func:`lineside.epcis.validate_document` on the event alone."""
    problems = basic_problems(event)
    if problems:
        return problems
    prefix = "epcisBody.eventList[0]"
    return [
        str(issue).replace(prefix, "event", 1) for issue in validate_document(as_document([event]))
    ]


_EVENT_PATH = re.compile(r"^epcisBody\.eventList\[(\d+)\]")


class EpcisValidator:
    """The EPCIS checks, for one event or for a batch at once.

    ``many`` validates a batch as one document and hands each event its own problems:
    the document-level work is then paid once per batch rather than once per event,
    which is most of the cost. The JSON schema (``schema``, else the file named by
    ``$LINESIDE_EPCIS_SCHEMA`` when ``use_env``) is loaded once, here.

    >>> check = EpcisValidator()
    >>> [len(found) for found in check.many([{"type": "ObjectEvent", "action": "MOVE"}, {}])]
    [3, 3]
    """

    def __init__(
        self, schema: EPCISSchema | Path | str | None = None, *, use_env: bool = True
    ) -> None:
        if schema is None and use_env:
            schema = os.environ.get(SCHEMA_ENV) or None
        if schema is not None and not isinstance(schema, EPCISSchema):
            schema = EPCISSchema(Path(schema))
        self._schema = schema

    def __call__(self, event: dict[str, Any]) -> list[str]:
        """The problems of one event (empty when acceptable)."""
        return self.many([event])[0]

    def many(self, events: Sequence[dict[str, Any]]) -> list[list[str]]:
        """The problems of each event, in order."""
        problems = [basic_problems(event) for event in events]
        positions = [n for n, found in enumerate(problems) if not found]
        if not positions:
            return problems
        issues = validate_document(as_document([events[n] for n in positions]), schema=self._schema)
        for issue in issues:
            located = _EVENT_PATH.match(issue.path)
            if located is None or int(located.group(1)) >= len(positions):
                # Not about one event (cannot happen with our own wrapper document, but
                # never guess): check each event on its own instead.
                return [self._alone(event) for event in events]
            message = str(issue).replace(located.group(0), "event", 1)
            problems[positions[int(located.group(1))]].append(message)
        return problems

    def _alone(self, event: dict[str, Any]) -> list[str]:
        problems = basic_problems(event)
        if problems:
            return problems
        issues = validate_document(as_document([event]), schema=self._schema)
        return [str(issue).replace("epcisBody.eventList[0]", "event", 1) for issue in issues]


def default_validator() -> EpcisValidator:
    """The validator the ingestor and the capture interface use by default."""
    return EpcisValidator()
