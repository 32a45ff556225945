"""EPCIS 2.0 / CBV 2.0 events: models, builders, the event hash and validation.

>>> from datetime import datetime, timezone
>>> e = packing_event(parent="https://id.gs1.org/00/389345670000000018",
...                   children=["https://id.gs1.org/01/08934567890120/21/Ab3x"],
...                   event_time=datetime(2024, 5, 1, 1, 0, tzinfo=timezone.utc),
...                   read_point="https://id.gs1.org/414/8934567000017",
...                   biz_location="https://id.gs1.org/414/8934567000017")
>>> e.to_jsonld()["bizStep"], e.event_id == event_hash(e)
('packing', True)
"""

from lineside.epcis.bindings import Binding, binding_for, parse_document_bytes
from lineside.epcis.builders import (
    LINESIDE_NAMESPACE,
    commissioning_event,
    decommissioning_event,
    packing_event,
    unpacking_event,
    with_event_id,
)
from lineside.epcis.hashing import (
    document_hashes,
    document_prehashes,
    event_hash,
    hash_prehash,
    prehash_string,
)
from lineside.epcis.identifiers import canonical_digital_link
from lineside.epcis.models import (
    EPCIS_CONTEXT,
    AggregationEvent,
    AssociationEvent,
    EPCISDocument,
    Event,
    Location,
    ObjectEvent,
    QuantityElement,
    TransactionEvent,
    TransformationEvent,
    parse_document,
    parse_event,
)
from lineside.epcis.validate import (
    ValidationIssue,
    ValidationReport,
    check_document,
    validate_document,
)
from lineside.epcis.vocabulary import (
    Action,
    BizStep,
    BizTransactionType,
    Disposition,
    ErrorReason,
    SourceDestType,
)

__all__ = [
    "EPCIS_CONTEXT",
    "LINESIDE_NAMESPACE",
    "Action",
    "AggregationEvent",
    "AssociationEvent",
    "Binding",
    "BizStep",
    "BizTransactionType",
    "Disposition",
    "EPCISDocument",
    "ErrorReason",
    "Event",
    "Location",
    "ObjectEvent",
    "QuantityElement",
    "SourceDestType",
    "TransactionEvent",
    "TransformationEvent",
    "ValidationIssue",
    "ValidationReport",
    "binding_for",
    "canonical_digital_link",
    "check_document",
    "commissioning_event",
    "decommissioning_event",
    "document_hashes",
    "document_prehashes",
    "event_hash",
    "hash_prehash",
    "packing_event",
    "parse_document",
    "parse_document_bytes",
    "parse_event",
    "prehash_string",
    "unpacking_event",
    "validate_document",
    "with_event_id",
]
