"""CBV 2.0 vocabularies: business steps, dispositions, transaction and party types.

EPCIS 2.0 JSON-LD writes a CBV term bare (``"commissioning"``); the JSON-LD context
expands it to ``https://ref.gs1.org/cbv/BizStep-commissioning``. EPCIS 1.x and the XML
examples use the legacy URN ``urn:epcglobal:cbv:bizstep:commissioning``. All three forms
are accepted by :func:`parse_biz_step` and friends; a value that is none of them but is an
absolute URI is a user-defined term and is kept as a plain string.

>>> parse_biz_step("https://ref.gs1.org/cbv/BizStep-packing")
<BizStep.PACKING: 'packing'>
>>> BizStep.PACKING.uri
'https://ref.gs1.org/cbv/BizStep-packing'
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TypeVar

__all__ = [
    "CBV_URI",
    "LINESIDE_NAMESPACE",
    "Action",
    "BizStep",
    "BizTransactionType",
    "Disposition",
    "ErrorReason",
    "SourceDestType",
    "expand_cbv_term",
    "is_absolute_uri",
    "parse_biz_step",
    "parse_biz_transaction_type",
    "parse_disposition",
    "parse_error_reason",
    "parse_source_dest_type",
]

CBV_URI = "https://ref.gs1.org/cbv/"

#: Namespace of Lineside's own extension fields (``lineside:reason``).
LINESIDE_NAMESPACE = "urn:lineside:epcis:"

# RFC 3986 scheme followed by something: covers URLs ("https://...") and URNs ("urn:epc:...").
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")


def is_absolute_uri(value: str) -> bool:
    """Whether ``value`` is an absolute URI (a URL or a URN).

    >>> is_absolute_uri("urn:epc:id:sgtin:0614141.107346.2017"), is_absolute_uri("packing")
    (True, False)
    """
    return bool(_ABSOLUTE_URI.match(value))


class _CBVTerm(StrEnum):
    """A CBV term; the value is the bare term used in EPCIS 2.0 JSON-LD."""

    @classmethod
    def _uri_prefix(cls) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def _urn_prefix(cls) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def uri(self) -> str:
        """The CBV 2.0 web URI of the term."""
        return self._uri_prefix() + self.value

    @property
    def urn(self) -> str:
        """The legacy EPCIS 1.x URN of the term."""
        return self._urn_prefix() + self.value

    @classmethod
    def from_any(cls, value: str) -> _CBVTerm | None:
        """The term for a bare, URI or URN spelling; None if it is not one of ours."""
        for prefix in (cls._uri_prefix(), cls._urn_prefix(), ""):
            if value.startswith(prefix):
                try:
                    return cls(value[len(prefix) :])
                except ValueError:
                    continue
        return None


class BizStep(_CBVTerm):
    """CBV 2.0 business steps (``bizStep``)."""

    ACCEPTING = "accepting"
    ARRIVING = "arriving"
    ASSEMBLING = "assembling"
    COLLECTING = "collecting"
    COMMISSIONING = "commissioning"
    CONSIGNING = "consigning"
    CREATING_CLASS_INSTANCE = "creating_class_instance"
    CYCLE_COUNTING = "cycle_counting"
    DECOMMISSIONING = "decommissioning"
    DEPARTING = "departing"
    DESTROYING = "destroying"
    DISASSEMBLING = "disassembling"
    DISPENSING = "dispensing"
    ENCODING = "encoding"
    ENTERING_EXITING = "entering_exiting"
    HOLDING = "holding"
    INSPECTING = "inspecting"
    INSTALLING = "installing"
    KILLING = "killing"
    LOADING = "loading"
    OTHER = "other"
    PACKING = "packing"
    PICKING = "picking"
    RECEIVING = "receiving"
    REMOVING = "removing"
    REPACKAGING = "repackaging"
    REPAIRING = "repairing"
    REPLACING = "replacing"
    RESERVING = "reserving"
    RETAIL_SELLING = "retail_selling"
    SAMPLING = "sampling"
    SENSOR_REPORTING = "sensor_reporting"
    SHIPPING = "shipping"
    STAGING_OUTBOUND = "staging_outbound"
    STOCK_TAKING = "stock_taking"
    STOCKING = "stocking"
    STORING = "storing"
    TRANSPORTING = "transporting"
    UNLOADING = "unloading"
    UNPACKING = "unpacking"
    VOID_SHIPPING = "void_shipping"

    @classmethod
    def _uri_prefix(cls) -> str:
        return CBV_URI + "BizStep-"

    @classmethod
    def _urn_prefix(cls) -> str:
        return "urn:epcglobal:cbv:bizstep:"


class Disposition(_CBVTerm):
    """CBV 2.0 dispositions (``disposition``, ``persistentDisposition``)."""

    ACTIVE = "active"
    AVAILABLE = "available"
    COMPLETENESS_INFERRED = "completeness_inferred"
    COMPLETENESS_VERIFIED = "completeness_verified"
    CONFORMANT = "conformant"
    CONTAINER_CLOSED = "container_closed"
    CONTAINER_OPEN = "container_open"
    DAMAGED = "damaged"
    DESTROYED = "destroyed"
    DISPENSED = "dispensed"
    DISPOSED = "disposed"
    ENCODED = "encoded"
    EXPIRED = "expired"
    IN_PROGRESS = "in_progress"
    IN_TRANSIT = "in_transit"
    INACTIVE = "inactive"
    MISMATCH_CLASS = "mismatch_class"
    MISMATCH_INSTANCE = "mismatch_instance"
    MISMATCH_QUANTITY = "mismatch_quantity"
    NEEDS_REPLACEMENT = "needs_replacement"
    NO_PEDIGREE_MATCH = "no_pedigree_match"
    NON_CONFORMANT = "non_conformant"
    NON_SELLABLE_OTHER = "non_sellable_other"
    PARTIALLY_DISPENSED = "partially_dispensed"
    RECALLED = "recalled"
    RESERVED = "reserved"
    RETAIL_SOLD = "retail_sold"
    RETURNED = "returned"
    SELLABLE_ACCESSIBLE = "sellable_accessible"
    SELLABLE_NOT_ACCESSIBLE = "sellable_not_accessible"
    STOLEN = "stolen"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"

    @classmethod
    def _uri_prefix(cls) -> str:
        return CBV_URI + "Disp-"

    @classmethod
    def _urn_prefix(cls) -> str:
        return "urn:epcglobal:cbv:disp:"


class BizTransactionType(_CBVTerm):
    """CBV 2.0 business transaction types (``bizTransactionList[].type``)."""

    BOL = "bol"
    CERT = "cert"
    DESADV = "desadv"
    INV = "inv"
    PEDIGREE = "pedigree"
    PO = "po"
    POC = "poc"
    PRODORDER = "prodorder"
    RECADV = "recadv"
    RMA = "rma"
    TESTPRD = "testprd"
    TESTRES = "testres"
    UPEVT = "upevt"

    @classmethod
    def _uri_prefix(cls) -> str:
        return CBV_URI + "BTT-"

    @classmethod
    def _urn_prefix(cls) -> str:
        return "urn:epcglobal:cbv:btt:"


class SourceDestType(_CBVTerm):
    """CBV 2.0 source/destination types (``sourceList[].type``)."""

    OWNING_PARTY = "owning_party"
    POSSESSING_PARTY = "possessing_party"
    LOCATION = "location"

    @classmethod
    def _uri_prefix(cls) -> str:
        return CBV_URI + "SDT-"

    @classmethod
    def _urn_prefix(cls) -> str:
        return "urn:epcglobal:cbv:sdt:"


class ErrorReason(_CBVTerm):
    """CBV 2.0 error reasons (``errorDeclaration.reason``)."""

    DID_NOT_OCCUR = "did_not_occur"
    INCORRECT_DATA = "incorrect_data"

    @classmethod
    def _uri_prefix(cls) -> str:
        return CBV_URI + "ER-"

    @classmethod
    def _urn_prefix(cls) -> str:
        return "urn:epcglobal:cbv:er:"


_T = TypeVar("_T", bound=_CBVTerm)


class Action(StrEnum):
    """The EPCIS ``action`` of ObjectEvent, AggregationEvent, TransactionEvent, AssociationEvent."""

    ADD = "ADD"
    OBSERVE = "OBSERVE"
    DELETE = "DELETE"


def _parse_term(kind: type[_T], value: str, what: str) -> _T | str:
    term = kind.from_any(value)
    if isinstance(term, kind):
        return term
    if is_absolute_uri(value) and not value.startswith((kind._uri_prefix(), kind._urn_prefix())):
        return value
    raise ValueError(f"{value!r} is not a CBV 2.0 {what}")


def parse_biz_step(value: str) -> BizStep | str:
    """A CBV business step from any spelling, or the URI of a user-defined one.

    >>> parse_biz_step("urn:epcglobal:cbv:bizstep:shipping")
    <BizStep.SHIPPING: 'shipping'>
    >>> parse_biz_step("packng")
    Traceback (most recent call last):
    ValueError: 'packng' is not a CBV 2.0 business step
    """
    return _parse_term(BizStep, value, "business step")


def parse_disposition(value: str) -> Disposition | str:
    """A CBV disposition from any spelling, or the URI of a user-defined one."""
    return _parse_term(Disposition, value, "disposition")


def parse_biz_transaction_type(value: str) -> BizTransactionType | str:
    """A CBV business transaction type from any spelling, or a user-defined URI."""
    return _parse_term(BizTransactionType, value, "business transaction type")


def parse_source_dest_type(value: str) -> SourceDestType | str:
    """A CBV source/destination type from any spelling, or a user-defined URI."""
    return _parse_term(SourceDestType, value, "source/destination type")


def parse_error_reason(value: str) -> ErrorReason | str:
    """A CBV error reason from any spelling, or a user-defined URI."""
    return _parse_term(ErrorReason, value, "error reason")


def expand_cbv_term(kind: type[_CBVTerm], value: str) -> str:
    """The CBV 2.0 web URI for a term in any spelling; other values unchanged.

    >>> expand_cbv_term(Disposition, "in_progress")
    'https://ref.gs1.org/cbv/Disp-in_progress'
    """
    term = kind.from_any(value)
    return term.uri if term is not None else value
