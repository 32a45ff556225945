"""The order of an event's fields in the EPCIS 2.0 XML schema: the common fields first,
then each event type's own sequence. The XML writer and the EPCIS 1.x converter both
follow it.

>>> EVENT_FIELDS["ObjectEvent"][:2]
('epcList', 'action')
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["COMMON_FIELDS", "EVENT_FIELDS"]

COMMON_FIELDS = (
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "errorDeclaration",
    "certificationInfo",
)
_TAIL = (
    "sourceList",
    "destinationList",
    "sensorElementList",
    "persistentDisposition",
)
_WHERE = ("bizStep", "disposition", "readPoint", "bizLocation")
EVENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "ObjectEvent": (
        "epcList",
        "action",
        *_WHERE,
        "bizTransactionList",
        "quantityList",
        *_TAIL,
        "ilmd",
    ),
    "AggregationEvent": (
        "parentID",
        "childEPCs",
        "action",
        *_WHERE,
        "bizTransactionList",
        "childQuantityList",
        *_TAIL,
    ),
    "TransactionEvent": (
        "bizTransactionList",
        "parentID",
        "epcList",
        "action",
        *_WHERE,
        "quantityList",
        *_TAIL,
    ),
    "TransformationEvent": (
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
        "transformationID",
        *_WHERE,
        "bizTransactionList",
        *_TAIL,
        "ilmd",
    ),
    "AssociationEvent": (
        "parentID",
        "childEPCs",
        "childQuantityList",
        "action",
        *_WHERE,
        "bizTransactionList",
        *_TAIL,
    ),
}
