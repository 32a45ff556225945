"""Builders for the events a packing line emits.

Each builder returns a complete event whose ``eventID`` is its own event hash, so a
redelivered event is recognised as the same event by any EPCIS repository.

Which CBV terms, and why:

* a verified unit: ObjectEvent, action ADD, bizStep ``commissioning``, disposition
  ``active`` ("a commissioned object has just been introduced into the supply chain"),
  with lot and dates as ILMD;
* a rejected or voided label: ObjectEvent, action DELETE, bizStep ``decommissioning``,
  disposition ``inactive`` (CBV: decommissioning disassociates the identifier; the object
  may be re-commissioned only with a new identifier, which is what a reprint does). When
  the label itself is destroyed (``destroyed=True``) the event is bizStep ``destroying``,
  disposition ``destroyed`` (CBV: "object has been fully rendered non-usable");
* units packed into a case: AggregationEvent, action ADD, bizStep ``packing``,
  disposition ``in_progress``;
* a packed unit voided: AggregationEvent, action DELETE, bizStep ``unpacking``, so the
  repository's containment forgets it.

EPCs and locations are plain strings (GS1 Digital Link URIs or EPC URNs); only their
form as an absolute URI is checked here.

>>> from datetime import datetime, timezone, timedelta
>>> e = commissioning_event(
...     epcs=["https://id.gs1.org/01/08934567890120/21/Ab3x"],
...     event_time=datetime(2024, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=7))),
...     read_point="https://id.gs1.org/414/8934567000017/254/L1",
...     biz_location="https://id.gs1.org/414/8934567000017", lot="L2405")
>>> e.action, e.biz_step, e.ilmd
(<Action.ADD: 'ADD'>, <BizStep.COMMISSIONING: 'commissioning'>, {'cbvmda:lotNumber': 'L2405'})
>>> e.event_id == event_hash(e)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

from lineside.epcis.hashing import event_hash, hash_prehash, prehash_string, prehash_value
from lineside.epcis.models import (
    AggregationEvent,
    Event,
    ObjectEvent,
    format_time,
    parse_event,
)
from lineside.epcis.vocabulary import (
    LINESIDE_NAMESPACE,
    Action,
    BizStep,
    Disposition,
    is_absolute_uri,
)
from lineside.errors import EPCISError

__all__ = [
    "LINESIDE_NAMESPACE",
    "CommissioningTemplate",
    "commissioning_event",
    "decommissioning_event",
    "packing_event",
    "unpacking_event",
    "with_event_id",
]

_E = TypeVar("_E", bound=Event)


def with_event_id(event: _E) -> _E:
    """A copy of ``event`` whose ``eventID`` is its CBV 2.0 event hash.

    The hash ignores ``eventID``, so calling this twice gives the same result.
    """
    # model_copy returns the same class; mypy sees the union bound instead.
    return cast(_E, event.model_copy(update={"event_id": event_hash(event)}))


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    if offset is None:
        raise EPCISError(f"event_time: {moment.isoformat()} has no time-zone offset")
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _common(event_time: datetime, read_point: str, biz_location: str) -> dict[str, Any]:
    return {
        "eventTime": event_time,
        "eventTimeZoneOffset": _offset(event_time),
        "readPoint": {"id": read_point},
        "bizLocation": {"id": biz_location},
    }


def _build(data: dict[str, Any], cls: type[_E]) -> _E:
    event = parse_event(data)
    if not isinstance(event, cls):  # pragma: no cover - the type key decides the class
        raise EPCISError(f"type: expected {cls.event_type}")
    return with_event_id(event)


def _epcs(values: Iterable[str], what: str) -> list[str]:
    listed = list(values)
    if not listed:
        raise EPCISError(f"{what}: at least one EPC is needed")
    return listed


def commissioning_event(
    *,
    epcs: Iterable[str],
    event_time: datetime,
    read_point: str,
    biz_location: str,
    lot: str | None = None,
    expiry: date | None = None,
    production_date: date | None = None,
    best_before: date | None = None,
) -> ObjectEvent:
    """ObjectEvent ADD / commissioning / active for verified units, with ILMD."""
    ilmd: dict[str, str] = {}
    if lot is not None:
        ilmd["cbvmda:lotNumber"] = lot
    if expiry is not None:
        ilmd["cbvmda:itemExpirationDate"] = expiry.isoformat()
    if best_before is not None:
        ilmd["cbvmda:bestBeforeDate"] = best_before.isoformat()
    if production_date is not None:
        ilmd["cbvmda:productionDate"] = production_date.isoformat()
    data = {
        "type": "ObjectEvent",
        "action": Action.ADD,
        "bizStep": BizStep.COMMISSIONING,
        "disposition": Disposition.ACTIVE,
        "epcList": _epcs(epcs, "epcList"),
        **_common(event_time, read_point, biz_location),
    }
    if ilmd:
        data["ilmd"] = ilmd
    return _build(data, ObjectEvent)


class CommissioningTemplate:
    """:func:`commissioning_event` for one EPC at a time, prepared once per work order.

    A line commissions its units one by one with the same lot, dates and locations: only
    the EPC and the time change. The template builds (and validates) the event once, keeps
    its JSON-LD and its pre-hash string cut around the time and the EPC, and then gives each
    unit's JSON-LD, hash ``eventID`` included, without building the model again. The result
    is equal to ``commissioning_event(epcs=[epc], event_time=..., ...).to_jsonld()``.

    >>> from datetime import datetime, timezone
    >>> t = CommissioningTemplate(
    ...     read_point="https://id.gs1.org/414/8934567000017/254/L1",
    ...     biz_location="https://id.gs1.org/414/8934567000017", lot="L2405")
    >>> epc = "https://id.gs1.org/01/08934567890120/21/Ab3x"
    >>> when = datetime(2024, 5, 1, 1, 0, tzinfo=timezone.utc)
    >>> t.event(epc, when) == commissioning_event(
    ...     epcs=[epc], event_time=when, read_point=t.read_point,
    ...     biz_location=t.biz_location, lot="L2405").to_jsonld()
    True
    """

    _EPC = "https://id.gs1.org/01/00000000000000/21/TEMPLATE"
    _TIME = datetime(2000, 1, 1, tzinfo=UTC)
    _TAIL = "epcListepc="  # what comes before the EPC of a one-EPC list

    def __init__(
        self,
        *,
        read_point: str,
        biz_location: str,
        lot: str | None = None,
        expiry: date | None = None,
        production_date: date | None = None,
        best_before: date | None = None,
    ) -> None:
        self.read_point = read_point
        self.biz_location = biz_location
        self._fields: dict[str, Any] = {
            "read_point": read_point,
            "biz_location": biz_location,
            "lot": lot,
            "expiry": expiry,
            "production_date": production_date,
            "best_before": best_before,
        }
        self._jsonld = commissioning_event(
            epcs=[self._EPC], event_time=self._TIME, **self._fields
        ).to_jsonld()
        time_text, epc_text = self._variable(self._EPC, format_time(self._TIME))
        prehash = prehash_string(self._jsonld)
        time_mark, epc_mark = f"eventTime={time_text}", f"{self._TAIL}{epc_text}"
        if prehash.count(time_mark) != 1 or prehash.count(epc_mark) != 1:  # pragma: no cover
            raise EPCISError("commissioning template: time or EPC not found once in the hash")
        head, _, rest = prehash.partition(time_mark)
        middle, _, tail = rest.partition(epc_mark)
        self._head = head + "eventTime="
        self._middle = middle + self._TAIL
        self._tail = tail

    @staticmethod
    def _variable(epc: str, time_text: str) -> tuple[str, str]:
        """The time and the EPC as the event hash writes them (canonical forms)."""
        return prehash_value(time_text, time=True), prehash_value(epc)

    def event(self, epc: str, event_time: datetime) -> dict[str, Any]:
        """The JSON-LD of the commissioning of ``epc`` at ``event_time``, with its eventID."""
        if event_time.utcoffset() != self._TIME.utcoffset() or event_time.tzinfo is not UTC:
            # Another offset: the template is for UTC times; build it the long way.
            return commissioning_event(
                epcs=[epc], event_time=event_time, **self._fields
            ).to_jsonld()
        if not is_absolute_uri(epc):
            raise EPCISError(f"epcList: {epc!r} is not an absolute URI or URN")
        time_text = format_time(event_time)
        canonical_time, canonical_epc = self._variable(epc, time_text)
        prehash = f"{self._head}{canonical_time}{self._middle}{canonical_epc}{self._tail}"
        data = {
            key: dict(value) if isinstance(value, dict) else value
            for key, value in self._jsonld.items()
        }
        data["eventTime"] = time_text
        data["epcList"] = [epc]
        data["eventID"] = hash_prehash(prehash)
        return data


def decommissioning_event(
    *,
    epcs: Iterable[str],
    event_time: datetime,
    read_point: str,
    biz_location: str,
    reason: str,
    destroyed: bool = False,
) -> ObjectEvent:
    """ObjectEvent DELETE for rejected or voided labels; ``reason`` is kept as
    the extension field ``lineside:reason`` (CBV has no standard field for it).

    Decommissioning / inactive by default; destroying / destroyed when ``destroyed``.
    """
    if not reason.strip():
        raise EPCISError("reason: a decommissioning needs a reason (no read, duplicate...)")
    data = {
        "type": "ObjectEvent",
        "action": Action.DELETE,
        "bizStep": BizStep.DESTROYING if destroyed else BizStep.DECOMMISSIONING,
        "disposition": Disposition.DESTROYED if destroyed else Disposition.INACTIVE,
        "epcList": _epcs(epcs, "epcList"),
        **_common(event_time, read_point, biz_location),
        "lineside:reason": reason,
    }
    return _build(data, ObjectEvent)


def packing_event(
    *,
    parent: str,
    children: Iterable[str],
    event_time: datetime,
    read_point: str,
    biz_location: str,
) -> AggregationEvent:
    """AggregationEvent ADD / packing / in_progress: ``children`` packed into ``parent``."""
    data = {
        "type": "AggregationEvent",
        "action": Action.ADD,
        "bizStep": BizStep.PACKING,
        "disposition": Disposition.IN_PROGRESS,
        "parentID": parent,
        "childEPCs": _epcs(children, "childEPCs"),
        **_common(event_time, read_point, biz_location),
    }
    return _build(data, AggregationEvent)


def unpacking_event(
    *,
    parent: str,
    children: Iterable[str],
    event_time: datetime,
    read_point: str,
    biz_location: str,
) -> AggregationEvent:
    """AggregationEvent DELETE / unpacking: ``children`` taken out of ``parent``.

    No disposition: the children keep theirs (a voided unit gets its own decommissioning
    event); the event only tells containment that they are no longer in the case.
    """
    data = {
        "type": "AggregationEvent",
        "action": Action.DELETE,
        "bizStep": BizStep.UNPACKING,
        "parentID": parent,
        "childEPCs": _epcs(children, "childEPCs"),
        **_common(event_time, read_point, biz_location),
    }
    return _build(data, AggregationEvent)
