"""EPCIS 1.x XML documents read as EPCIS 2.0, following the standard's 1.2 -> 2.0 mapping.

Most systems in the field still send EPCIS 1.2 (or 1.1, 1.0) XML, in the namespace
``urn:epcglobal:epcis:xsd:1``. :func:`upgrade_tree` rewrites such a document, as an XML
tree, into the EPCIS 2.0 XML binding. The XML reader (:mod:`lineside.epcis.xml`) calls it
before reading, so a 1.x document is accepted wherever a 2.0 one is (capture,
validation, hashing, conversion), and its events hash as their 2.0 form.

The mapping, element by element:

- the namespaces ``urn:epcglobal:epcis:xsd:1``, ``urn:epcglobal:epcis-query:xsd:1`` and
  ``urn:epcglobal:epcis-masterdata:xsd:1`` become their ``:2`` twins, and
  ``schemaVersion`` becomes ``2.0``;
- an event's ``<baseExtension>`` is dissolved: ``eventID`` and ``errorDeclaration`` are
  fields of the event itself in 2.0;
- an event's ``<extension>`` is dissolved: ``quantityList``, ``childQuantityList``,
  ``sourceList``, ``destinationList`` and ``ilmd`` take their 2.0 places (so do the 2.0
  fields GS1's bridging 1.2 schema nests deeper: ``sensorElementList``,
  ``persistentDisposition``, ``certificationInfo``);
- ``<EventList><extension><TransformationEvent>`` (and an ``AssociationEvent`` one
  extension deeper) become plain members of the event list;
- a ``QuantityEvent`` (deprecated in 1.1, gone in 2.0) becomes the ``ObjectEvent`` the
  standard names as its replacement: action ``OBSERVE`` and a one-element
  ``quantityList`` holding its ``epcClass`` and ``quantity``;
- CBV values stay as written: the 2.0 XML binding keeps the URNs
  (``urn:epcglobal:cbv:bizstep:shipping``); the JSON-LD form has the bare terms;
- user extensions (elements in other namespaces) follow the standard fields in document
  order; elements without a namespace left in an innermost ``<extension>`` stay in a
  2.0 ``<extension>``.

>>> from lxml import etree
>>> root = etree.fromstring(b'''<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1"
...   schemaVersion="1.2" creationDate="2024-05-01T01:00:00Z"><EPCISBody><EventList>
...   <QuantityEvent><eventTime>2024-05-01T08:00:00+07:00</eventTime>
...   <eventTimeZoneOffset>+07:00</eventTimeZoneOffset>
...   <epcClass>urn:epc:idpat:sgtin:8934567.089012.*</epcClass><quantity>20</quantity>
...   </QuantityEvent></EventList></EPCISBody></epcis:EPCISDocument>''')
>>> event = upgrade_tree(root).find("EPCISBody/EventList")[0]
>>> event.tag, [child.tag for child in event]
('ObjectEvent', ['eventTime', 'eventTimeZoneOffset', 'action', 'quantityList'])
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from lineside.epcis.xml_order import COMMON_FIELDS, EVENT_FIELDS
from lineside.errors import EPCISError

__all__ = ["EPCIS_1_NAMESPACES", "is_epcis_1", "upgrade_tree"]

#: EPCIS 1.x namespaces and the EPCIS 2.0 namespace each one becomes.
EPCIS_1_NAMESPACES: Mapping[str, str] = {
    "urn:epcglobal:epcis:xsd:1": "urn:epcglobal:epcis:xsd:2",
    "urn:epcglobal:epcis-query:xsd:1": "urn:epcglobal:epcis-query:xsd:2",
    "urn:epcglobal:epcis-masterdata:xsd:1": "urn:epcglobal:epcis-masterdata:xsd:2",
}
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_WRAPPERS = frozenset({"extension", "baseExtension"})

_WHERE = ("bizStep", "disposition", "readPoint", "bizLocation")
# A QuantityEvent's fields: the common ones, its own two, where and why.
_QUANTITY_EVENT_FIELDS = frozenset(
    {*COMMON_FIELDS, "epcClass", "quantity", *_WHERE, "bizTransactionList"}
)
_EVENT_TYPES = (*EVENT_FIELDS, "QuantityEvent")
# Fields that may appear more than once (2.0 allows several certificationInfo).
_REPEATABLE = frozenset({"certificationInfo"})


def is_epcis_1(root: Any) -> bool:
    """True when ``root`` (an lxml element) is an EPCIS 1.x document element.

    >>> from lxml import etree
    >>> is_epcis_1(etree.fromstring('<e:EPCISDocument xmlns:e="urn:epcglobal:epcis:xsd:1"/>'))
    True
    """
    return _namespace(root) in EPCIS_1_NAMESPACES


def upgrade_tree(root: Any) -> Any:
    """A new EPCIS 2.0 XML tree for the EPCIS 1.x document ``root`` (left unchanged).

    Raises :class:`EPCISError` naming the element (and its line) that has no place in
    an EPCIS 1.x document: an unknown event type, an unknown field of an event, a field
    given twice, a ``QuantityEvent`` without its ``epcClass``.
    """
    if not is_epcis_1(root):
        raise EPCISError(
            f"(root): <{_local(root)}> in namespace {_namespace(root)!r} is not an EPCIS 1.x "
            "document"
        )
    nsmap = {prefix: EPCIS_1_NAMESPACES.get(ns, ns) for prefix, ns in root.nsmap.items()}
    new = etree.Element(_upgraded_tag(root), nsmap=nsmap)
    for name, value in root.attrib.items():
        if name == "schemaVersion":
            new.set(name, "2.0")
        elif etree.QName(name).namespace != _XSI_NS:  # schemaLocation names the 1.x XSD
            new.set(name, value)
    for child in _elements(root):
        if _namespace(child) is None and _local(child) == "EPCISBody":
            new.append(_body(child))
        else:
            new.append(_renamed(child))
    # Copied elements re-declare the 1.x namespaces; prefixes the document declares stay
    # (a value such as xsi:type="xsd:int" may use one).
    keep = [p for p, ns in root.nsmap.items() if p and ns not in EPCIS_1_NAMESPACES]
    etree.cleanup_namespaces(new, keep_ns_prefixes=keep)
    return new


def _body(body: Any) -> Any:
    new = _shallow(body)
    for child in _elements(body):
        if _namespace(child) is None and _local(child) == "EventList":
            new.append(_event_list(child))
        elif _local(child) == "QueryResults":
            new.append(_query_results(child))
        else:
            new.append(_renamed(child))
    return new


def _query_results(results: Any) -> Any:
    new = _shallow(results)
    for child in _elements(results):
        if _namespace(child) is None and _local(child) == "resultsBody":
            body = new.makeelement(child.tag, dict(child.attrib))
            new.append(body)
            for item in _elements(child):
                if _namespace(item) is None and _local(item) == "EventList":
                    body.append(_event_list(item))
                else:
                    body.append(_renamed(item))
        else:
            new.append(_renamed(child))
    return new


def _event_list(event_list: Any) -> Any:
    new = _shallow(event_list)
    for index, element in enumerate(_dissolved(event_list)):
        if _namespace(element) is not None or _local(element) not in _EVENT_TYPES:
            raise EPCISError(
                f"EventList[{index}]: <{_local(element)}> (line {element.sourceline}) is not "
                f"an EPCIS 1.x event ({', '.join(_EVENT_TYPES)})"
            )
        new.append(_event(element, f"EventList[{index}]"))
    return new


def _event(event: Any, where: str) -> Any:
    kind = _local(event)
    where = f"{where} ({kind}, line {event.sourceline})"
    target = "ObjectEvent" if kind == "QuantityEvent" else kind
    standard = (*COMMON_FIELDS, *EVENT_FIELDS[target])
    allowed = _QUANTITY_EVENT_FIELDS if kind == "QuantityEvent" else frozenset(standard)
    fields: dict[str, list[Any]] = {}
    leftovers: list[Any] = []  # un-namespaced content of extension wrappers
    users: list[Any] = []  # elements in other namespaces: user extensions
    for child, wrapped in _fields(event):
        name = _local(child)
        if _namespace(child) is not None:
            users.append(child)
        elif name in allowed:
            if name in fields and name not in _REPEATABLE:
                raise EPCISError(f"{where}: <{name}> (line {child.sourceline}) is given twice")
            fields.setdefault(name, []).append(child)
        elif wrapped:
            leftovers.append(child)
        else:
            raise EPCISError(
                f"{where}: <{name}> (line {child.sourceline}) is not a field of an EPCIS 1.x {kind}"
            )
    if kind == "QuantityEvent":
        _as_object_event(fields, where)
    new = etree.Element(target, attrib=dict(event.attrib))
    for name in standard:
        for element in fields.get(name, []):
            new.append(_renamed(element))
    if leftovers:
        extension = etree.SubElement(new, "extension")
        for element in leftovers:
            extension.append(_renamed(element))
    for element in users:
        new.append(_renamed(element))
    return new


def _as_object_event(fields: dict[str, list[Any]], where: str) -> None:
    """A QuantityEvent's epcClass and quantity as an ObjectEvent's fields, in place."""
    epc_class = fields.pop("epcClass", None)
    if epc_class is None:
        raise EPCISError(f"{where}: a QuantityEvent needs an <epcClass>")
    quantity = fields.pop("quantity", None)
    quantity_list = etree.Element("quantityList")
    item = etree.SubElement(quantity_list, "quantityElement")
    item.append(_renamed(epc_class[0]))
    if quantity is not None:
        item.append(_renamed(quantity[0]))
    fields["quantityList"] = [quantity_list]
    action = etree.Element("action")
    action.text = "OBSERVE"
    fields["action"] = [action]


def _fields(event: Any, wrapped: bool = False) -> Iterator[tuple[Any, bool]]:
    """An event's fields with its extension wrappers dissolved, and whether each one
    came out of a wrapper."""
    for child in _elements(event):
        if _namespace(child) is None and _local(child) in _WRAPPERS:
            yield from _fields(child, wrapped=True)
        else:
            yield child, wrapped


def _dissolved(element: Any) -> Iterator[Any]:
    """The child elements, with ``<extension>`` wrappers dissolved (at any depth)."""
    for child in _elements(element):
        if _namespace(child) is None and _local(child) == "extension":
            yield from _dissolved(child)
        else:
            yield child


def _elements(element: Any) -> Iterator[Any]:
    # Comments and processing instructions are not content.
    return (child for child in element if isinstance(child.tag, str))


def _shallow(element: Any) -> Any:
    return etree.Element(_upgraded_tag(element), attrib=dict(element.attrib))


def _renamed(element: Any) -> Any:
    """A deep copy of ``element`` with every 1.x namespace replaced by its 2.0 twin."""
    new = copy.deepcopy(element)
    for item in new.iter():
        if not isinstance(item.tag, str):
            continue
        if _namespace(item) in EPCIS_1_NAMESPACES:
            item.tag = _upgraded_tag(item)
        elif item.tag == "sensorMetaData":
            # The spelling of GS1's bridging 1.2 examples; 2.0 has sensorMetadata.
            item.tag = "sensorMetadata"
    return new


def _upgraded_tag(element: Any) -> str:
    ns = _namespace(element)
    if ns is None:
        return _local(element)
    return f"{{{EPCIS_1_NAMESPACES.get(ns, ns)}}}{_local(element)}"


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _namespace(element: Any) -> str | None:
    ns = etree.QName(element).namespace
    return str(ns) if ns else None
