"""EPCIS 2.0 events and documents as frozen pydantic models, with JSON-LD in and out.

Field names are Pythonic; the JSON-LD names are aliases (``event_time`` <-> ``eventTime``).
Extension fields (``"example:myField"``) are kept as extra fields and written back
unchanged. CBV terms are stored as :class:`BizStep` / :class:`Disposition` members (any
spelling is accepted) and written bare, as EPCIS 2.0 JSON-LD does.

>>> event = parse_event({
...     "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "urn:epcglobal:cbv:bizstep:shipping",
...     "eventTime": "2024-05-01T08:00:00+07:00", "eventTimeZoneOffset": "+07:00",
...     "epcList": ["https://id.gs1.org/01/08934567890120/21/Ab3x"],
... })
>>> event.biz_step, event.to_jsonld()["eventTime"]
(<BizStep.SHIPPING: 'shipping'>, '2024-05-01T08:00:00.000+07:00')
>>> parse_event({**event.to_jsonld(), "bizStep": "packng"})
Traceback (most recent call last):
lineside.errors.EPCISError: bizStep: 'packng' is not a CBV 2.0 business step
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from lineside.epcis.vocabulary import (
    LINESIDE_NAMESPACE,
    Action,
    BizStep,
    BizTransactionType,
    Disposition,
    ErrorReason,
    SourceDestType,
    is_absolute_uri,
    parse_biz_step,
    parse_biz_transaction_type,
    parse_disposition,
    parse_error_reason,
    parse_source_dest_type,
)
from lineside.errors import EPCISError

__all__ = [
    "EPCIS_CONTEXT",
    "AggregationEvent",
    "AssociationEvent",
    "BizTransaction",
    "EPCISBody",
    "EPCISDocument",
    "ErrorDeclaration",
    "Event",
    "Location",
    "ObjectEvent",
    "PersistentDisposition",
    "QuantityElement",
    "SourceDest",
    "TransactionEvent",
    "TransformationEvent",
    "format_time",
    "parse_document",
    "parse_event",
]

#: The versioned EPCIS 2.0 JSON-LD context (the unversioned URL needs a network fetch).
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

_TIME = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))$"
)
_OFFSET = re.compile(r"^[+-](?:0\d|1[0-4]):[0-5]\d$")


def _parse_time(value: object) -> object:
    """RFC 3339 timestamp with offset; fractions beyond microseconds are truncated."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise PydanticCustomError("epcis_time", "a timestamp needs a time-zone offset")
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("epcis_time", "expected an RFC 3339 timestamp string")
    m = _TIME.match(value)
    if m is None:
        raise PydanticCustomError(
            "epcis_time",
            f"{value!r} is not an RFC 3339 timestamp with offset (2024-05-01T08:00:00+07:00)",
        )
    if m[8]:
        tz = UTC
    else:
        delta = timedelta(hours=int(m[10]), minutes=int(m[11]))
        tz = timezone(delta if m[9] == "+" else -delta)
    micro = int((m[7] or "0")[:6].ljust(6, "0"))
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:
        raise PydanticCustomError("epcis_time", f"{value!r} is not a valid date and time") from exc


def format_time(moment: datetime) -> str:
    """RFC 3339 with the moment's own offset, milliseconds (microseconds if needed).

    >>> format_time(datetime(2024, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=7))))
    '2024-05-01T08:00:00.000+07:00'
    """
    digits = 3 if moment.microsecond % 1000 == 0 else 6
    text = moment.isoformat(timespec="milliseconds" if digits == 3 else "microseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") and moment.tzinfo is UTC else text


Timestamp = Annotated[
    datetime,
    BeforeValidator(_parse_time),
    PlainSerializer(format_time, return_type=str, when_used="json"),
]


def _uri(value: object) -> object:
    if isinstance(value, str) and not is_absolute_uri(value):
        # The value goes in the context, not the template: braces in it must stay literal.
        raise PydanticCustomError(
            "epcis_uri", "{value} is not an absolute URI or URN", {"value": repr(value)}
        )
    return value


URI = Annotated[str, BeforeValidator(_uri)]


def _term(parser: Any) -> Any:
    def validate(value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return parser(value)
        except ValueError as exc:
            raise PydanticCustomError("cbv_term", str(exc)) from exc

    return BeforeValidator(validate)


BizStepValue = Annotated[BizStep | URI, _term(parse_biz_step)]
DispositionValue = Annotated[Disposition | URI, _term(parse_disposition)]
BizTransactionTypeValue = Annotated[BizTransactionType | URI, _term(parse_biz_transaction_type)]
SourceDestTypeValue = Annotated[SourceDestType | URI, _term(parse_source_dest_type)]
ErrorReasonValue = Annotated[ErrorReason | URI, _term(parse_error_reason)]


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="allow", populate_by_name=True, serialize_by_alias=True
    )

    def to_jsonld(self) -> dict[str, Any]:
        """This object in EPCIS 2.0 JSON-LD form (a plain JSON-compatible dict)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return data


class Location(_Model):
    """A ``readPoint`` or ``bizLocation``: ``{"id": "https://id.gs1.org/414/..."}``."""

    id: URI


class QuantityElement(_Model):
    """One ``quantityList`` entry: a class of objects and how many (or how much)."""

    epc_class: URI = Field(alias="epcClass")
    quantity: float | None = None
    uom: str | None = None


class BizTransaction(_Model):
    """A business transaction reference (purchase order, despatch advice...)."""

    type: BizTransactionTypeValue | None = None
    biz_transaction: URI = Field(alias="bizTransaction")


class SourceDest(_Model):
    """A ``sourceList`` or ``destinationList`` entry; one of source/destination is set."""

    type: SourceDestTypeValue
    source: URI | None = None
    destination: URI | None = None


class PersistentDisposition(_Model):
    """Dispositions that persist beyond the event (``set``) or stop (``unset``)."""

    set: tuple[DispositionValue, ...] | None = None
    unset: tuple[DispositionValue, ...] | None = None


class ErrorDeclaration(_Model):
    """Marks an earlier event as erroneous (EPCIS 2.0 section 7.4.1.4)."""

    declaration_time: Timestamp = Field(alias="declarationTime")
    reason: ErrorReasonValue | None = None
    corrective_event_ids: tuple[URI, ...] | None = Field(default=None, alias="correctiveEventIDs")


class _Event(_Model):
    """Fields common to every EPCIS event type."""

    event_type: ClassVar[str]

    context: Any = Field(default=None, alias="@context")
    event_time: Timestamp = Field(alias="eventTime")
    event_time_zone_offset: str = Field(alias="eventTimeZoneOffset", pattern=_OFFSET.pattern)
    record_time: Timestamp | None = Field(default=None, alias="recordTime")
    event_id: URI | None = Field(default=None, alias="eventID")
    error_declaration: ErrorDeclaration | None = Field(default=None, alias="errorDeclaration")
    certification_info: URI | tuple[URI, ...] | None = Field(
        default=None, alias="certificationInfo"
    )
    biz_step: BizStepValue | None = Field(default=None, alias="bizStep")
    disposition: DispositionValue | None = None
    persistent_disposition: PersistentDisposition | None = Field(
        default=None, alias="persistentDisposition"
    )
    read_point: Location | None = Field(default=None, alias="readPoint")
    biz_location: Location | None = Field(default=None, alias="bizLocation")
    biz_transaction_list: tuple[BizTransaction, ...] | None = Field(
        default=None, alias="bizTransactionList"
    )
    source_list: tuple[SourceDest, ...] | None = Field(default=None, alias="sourceList")
    destination_list: tuple[SourceDest, ...] | None = Field(default=None, alias="destinationList")
    sensor_element_list: tuple[dict[str, Any], ...] | None = Field(
        default=None, alias="sensorElementList"
    )

    def with_event_id(self, event_id: str) -> Event:
        """A copy of this event with ``eventID`` set."""
        return self.model_copy(update={"event_id": event_id})  # type: ignore[return-value]


class ObjectEvent(_Event):
    """Something happened to objects: commissioned, observed, shipped, decommissioned..."""

    event_type: ClassVar[str] = "ObjectEvent"
    type: Literal["ObjectEvent"] = "ObjectEvent"
    action: Action
    epc_list: tuple[URI, ...] | None = Field(default=None, alias="epcList")
    quantity_list: tuple[QuantityElement, ...] | None = Field(default=None, alias="quantityList")
    ilmd: dict[str, Any] | None = None


class AggregationEvent(_Event):
    """Objects were put into (ADD), seen in (OBSERVE) or taken out of (DELETE) a parent."""

    event_type: ClassVar[str] = "AggregationEvent"
    type: Literal["AggregationEvent"] = "AggregationEvent"
    action: Action
    parent_id: URI | None = Field(default=None, alias="parentID")
    child_epcs: tuple[URI, ...] | None = Field(default=None, alias="childEPCs")
    child_quantity_list: tuple[QuantityElement, ...] | None = Field(
        default=None, alias="childQuantityList"
    )


class AssociationEvent(AggregationEvent):
    """Like an aggregation, for objects associated with a parent (a sensor to a pallet)."""

    event_type: ClassVar[str] = "AssociationEvent"
    type: Literal["AssociationEvent"] = "AssociationEvent"  # type: ignore[assignment]


class TransactionEvent(_Event):
    """Objects were tied to (ADD) or released from (DELETE) business transactions."""

    event_type: ClassVar[str] = "TransactionEvent"
    type: Literal["TransactionEvent"] = "TransactionEvent"
    action: Action
    parent_id: URI | None = Field(default=None, alias="parentID")
    epc_list: tuple[URI, ...] | None = Field(default=None, alias="epcList")
    quantity_list: tuple[QuantityElement, ...] | None = Field(default=None, alias="quantityList")


class TransformationEvent(_Event):
    """Inputs were consumed and outputs produced (mixing, cutting, processing)."""

    event_type: ClassVar[str] = "TransformationEvent"
    type: Literal["TransformationEvent"] = "TransformationEvent"
    input_epc_list: tuple[URI, ...] | None = Field(default=None, alias="inputEPCList")
    input_quantity_list: tuple[QuantityElement, ...] | None = Field(
        default=None, alias="inputQuantityList"
    )
    output_epc_list: tuple[URI, ...] | None = Field(default=None, alias="outputEPCList")
    output_quantity_list: tuple[QuantityElement, ...] | None = Field(
        default=None, alias="outputQuantityList"
    )
    transformation_id: URI | None = Field(default=None, alias="transformationID")
    ilmd: dict[str, Any] | None = None


Event = ObjectEvent | AggregationEvent | AssociationEvent | TransactionEvent | TransformationEvent

_EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type: cls
    for cls in (
        ObjectEvent,
        AggregationEvent,
        AssociationEvent,
        TransactionEvent,
        TransformationEvent,
    )
}


class QueryResults(_Model):
    """``epcisBody.queryResults`` of an EPCISQueryDocument."""

    query_name: str = Field(alias="queryName")
    subscription_id: str | None = Field(default=None, alias="subscriptionID")
    results_body: dict[str, Any] = Field(alias="resultsBody")


class EPCISBody(_Model):
    """``epcisBody``: the events of a capture document (or the results of a query)."""

    event_list: tuple[dict[str, Any], ...] | None = Field(default=None, alias="eventList")
    query_results: QueryResults | None = Field(default=None, alias="queryResults")


class EPCISDocument(_Model):
    """An EPCIS 2.0 document (``EPCISDocument`` or ``EPCISQueryDocument``).

    The events are parsed into models and available as :attr:`events`; the body keeps
    their JSON-LD form so that the document writes back what it read.
    """

    context: Any = Field(default_factory=lambda: [EPCIS_CONTEXT], alias="@context")
    type: Literal["EPCISDocument", "EPCISQueryDocument"] = "EPCISDocument"
    schema_version: Literal["2.0"] = Field(default="2.0", alias="schemaVersion")
    creation_date: Timestamp = Field(alias="creationDate")
    epcis_header: dict[str, Any] | None = Field(default=None, alias="epcisHeader")
    epcis_body: EPCISBody = Field(alias="epcisBody")

    @property
    def events(self) -> tuple[Event, ...]:
        """The events of the document, parsed (document order)."""
        return tuple(parse_event(e) for e in self._raw_events())

    def _raw_events(self) -> tuple[dict[str, Any], ...]:
        body = self.epcis_body
        if body.event_list is not None:
            return body.event_list
        if body.query_results is not None:
            listed = body.query_results.results_body.get("eventList", [])
            return tuple(listed) if isinstance(listed, list) else ()
        return ()

    @classmethod
    def of(cls, events: Iterable[_Event], *, creation_date: datetime) -> EPCISDocument:
        """A capture document holding ``events``, with the standard context.

        The context also declares ``cbvmda`` and ``lineside`` so that ILMD and extension
        names hash the same in every implementation (some only read prefixes declared in
        the document itself).
        """
        return cls.model_validate(
            {
                "@context": [
                    EPCIS_CONTEXT,
                    {"cbvmda": "urn:epcglobal:cbv:mda:", "lineside": LINESIDE_NAMESPACE},
                ],
                "type": "EPCISDocument",
                "schemaVersion": "2.0",
                "creationDate": creation_date,
                "epcisBody": {"eventList": [e.to_jsonld() for e in events]},
            }
        )


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part not in _EVENT_TYPES and not str(part).startswith("function-"):
            text += f".{part}" if text else str(part)
    return text


def _translate(exc: ValidationError, prefix: str) -> EPCISError:
    first = exc.errors()[0]
    where = _path(tuple(first["loc"]))
    where = f"{prefix}.{where}" if prefix and where else (prefix or where or "(root)")
    message = first["msg"]
    if first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] == "extra_forbidden":
        message = "unknown field"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return EPCISError(f"{where}: {message}{suffix}")


def parse_event(data: Mapping[str, Any], *, path: str = "") -> Event:
    """An event model from its JSON-LD dict, chosen by ``type``.

    Raises :class:`EPCISError` naming the JSON path of the first problem.
    """
    where = f"{path}." if path else ""
    if not isinstance(data, Mapping):
        raise EPCISError(f"{path or '(root)'}: an event must be a JSON object")
    kind = data.get("type")
    cls = _EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(_EVENT_TYPES)
        raise EPCISError(f"{where}type: {kind!r} is not an EPCIS 2.0 event type ({known})")
    try:
        return cls.model_validate(dict(data))
    except ValidationError as exc:
        raise _translate(exc, path) from exc


def _may_hold_surrogates(text: bytes | str) -> bool:
    """Cheap pre-check: only text with a \\u escape or non-ASCII can hold a lone surrogate."""
    if isinstance(text, bytes):
        return b"\\u" in text or b"\xed" in text
    return "\\u" in text or not text.isascii()


def parse_document(data: bytes | str | Mapping[str, Any]) -> EPCISDocument:
    """An EPCIS 2.0 document from JSON text or a dict; every event is checked too.

    >>> parse_document('{"type": "EPCISDocument"}')
    Traceback (most recent call last):
    lineside.errors.EPCISError: creationDate: required field is missing (and 1 more problem)
    """
    if isinstance(data, bytes | str):
        text = data
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise EPCISError(f"(root): not valid JSON: {exc}") from exc
        if _may_hold_surrogates(text):
            # A lone surrogate (raw, or from a "\ud800" escape) is not text: such a
            # document could never be written out again.
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError as exc:
                raise EPCISError(
                    f"(root): holds {exc.object[exc.start]!r}, a lone surrogate that is not text"
                ) from exc
    if not isinstance(data, Mapping):
        raise EPCISError("(root): an EPCIS document must be a JSON object")
    try:
        document = EPCISDocument.model_validate(dict(data))
    except ValidationError as exc:
        raise _translate(exc, "") from exc
    body = document.epcis_body
    if body.event_list is not None:
        base = "epcisBody.eventList"
    elif body.query_results is not None:
        base = "epcisBody.queryResults.resultsBody.eventList"
        if not isinstance(body.query_results.results_body.get("eventList", []), list):
            raise EPCISError(f"{base}: must be a list of events")
    else:
        raise EPCISError("epcisBody: needs an eventList (or queryResults)")
    for index, event in enumerate(document._raw_events()):
        parse_event(event, path=f"{base}[{index}]")
    return document
