"""The EPCIS 2.0 XML binding: XML documents in, our events and documents out as XML.

Reading converts the XML to the JSON-LD form the models already understand (so an XML
event and its JSON-LD twin give the same model and the same event hash), following the
standard's mapping: list wrappers become arrays (``<epcList><epc>`` -> ``epcList``),
``bizTransaction``/``source``/``destination`` attributes become ``type``, sensor
attributes become keys, ``<extension>`` and ``<baseExtension>`` wrappers are dissolved,
and user extensions in other namespaces become ``prefix:name`` keys whose prefixes are
declared in the document's ``@context``. An EPCIS 1.x document is first rewritten as
2.0 (:mod:`lineside.epcis.v12`), so it reads, hashes and converts as its 2.0 form.

The parser is hardened the way ``defusedxml`` hardens the standard library: no DTD (a
document with a ``<!DOCTYPE>`` is refused), no entity expansion, no network access, no
"huge tree" mode. An EPCIS document never needs any of them; attackers do (XXE, billion
laughs).

>>> doc = parse_xml_document(b'''<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2"
...   schemaVersion="2.0" creationDate="2024-05-01T01:00:00Z"><EPCISBody><EventList>
...   <ObjectEvent><eventTime>2024-05-01T08:00:00+07:00</eventTime>
...   <eventTimeZoneOffset>+07:00</eventTimeZoneOffset>
...   <epcList><epc>https://id.gs1.org/01/08934567890120/21/Ab3x</epc></epcList>
...   <action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>
...   </ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>''')
>>> doc.events[0].biz_step
<BizStep.SHIPPING: 'shipping'>
>>> b"<bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>" in document_to_xml(doc)
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree  # type: ignore[import-untyped]

from lineside.epcis.hashing import STANDARD_PREFIXES
from lineside.epcis.models import EPCIS_CONTEXT, EPCISDocument, parse_document
from lineside.epcis.v12 import is_epcis_1, upgrade_tree
from lineside.epcis.validate import ValidationIssue
from lineside.epcis.vocabulary import (
    LINESIDE_NAMESPACE,
    BizStep,
    BizTransactionType,
    Disposition,
    ErrorReason,
    SourceDestType,
)
from lineside.epcis.xml_order import COMMON_FIELDS, EVENT_FIELDS
from lineside.errors import EPCISError

if TYPE_CHECKING:
    from lineside.epcis.models import Event

__all__ = [
    "EPCIS_NS",
    "EPCIS_QUERY_NS",
    "XMLSchemaCheck",
    "document_to_xml",
    "event_to_xml",
    "parse_xml_document",
    "upgrade_xml",
    "xml_to_jsonld",
]

#: Namespace of the EPCIS 2.0 XML schema (``epcis:EPCISDocument``).
EPCIS_NS = "urn:epcglobal:epcis:xsd:2"
#: Namespace of the EPCIS 2.0 query schema (``epcisq:EPCISQueryDocument``).
EPCIS_QUERY_NS = "urn:epcglobal:epcis-query:xsd:2"
_SBDH_NS = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# Namespaces of the binding itself: never user extensions.
_BINDING_NAMESPACES = frozenset({EPCIS_NS, EPCIS_QUERY_NS, "urn:epcglobal:xsd:1", _XSI_NS})

_EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
_WRAPPERS = frozenset({"extension", "baseExtension"})
_EPC_LISTS = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
_QUANTITY_LISTS = frozenset(
    {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
)
_PAIR_LISTS = {"bizTransactionList": "bizTransaction", "sourceList": "source"}
_PAIR_LISTS["destinationList"] = "destination"
_TEXT_FIELDS = frozenset(
    {
        "eventTime",
        "recordTime",
        "eventTimeZoneOffset",
        "eventID",
        "certificationInfo",
        "parentID",
        "action",
        "transformationID",
        "bizStep",
        "disposition",
    }
)
_SENSOR_NUMBERS = frozenset(
    {"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"}
)
# Compact IRIs that XML documents use in vocabulary fields (``cbv:BizStep-receiving``).
_VALUE_PREFIXES = {"cbv:": STANDARD_PREFIXES["cbv"], "gs1:": STANDARD_PREFIXES["gs1"]}

# Prefixes we declare when we write our own extensions.
_WRITE_PREFIXES: Mapping[str, str] = {
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "lineside": LINESIDE_NAMESPACE,
}


# --- reading ---------------------------------------------------------------------------


def _parser() -> Any:
    # A new parser per call: lxml parsers are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _parse_root(data: bytes | str) -> Any:
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
    except UnicodeEncodeError as exc:
        raise EPCISError(
            f"(root): not XML text: {exc.object[exc.start]!r} is a lone surrogate"
        ) from exc
    # An XML declaration naming an encoding is refused by lxml for str input; bytes work.
    try:
        tree = etree.fromstring(raw, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise EPCISError(f"(root): not well-formed XML: {exc}") from exc
    info = tree.docinfo
    dtd = info.internalDTD
    # A bare <!DOCTYPE name> (some GS1 examples carry one) declares nothing; anything
    # that declares entities or elements, or points elsewhere, is refused.
    if (
        info.system_url
        or info.public_id
        or (dtd is not None and (list(dtd.iterentities()) or list(dtd.iterelements())))
    ):
        raise EPCISError(
            "(root): a DTD is not allowed in an EPCIS document (no entity declarations, "
            "no external DTD)"
        )
    return tree.getroot()


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _namespace(element: Any) -> str | None:
    ns = etree.QName(element).namespace
    return str(ns) if ns else None


class _Reader:
    """One XML document's conversion; collects the prefixes its extension names use."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}

    # names --------------------------------------------------------------------------

    def name(self, qname: str, prefix_hint: str | None) -> str:
        """``{ns}local`` -> ``prefix:local`` with the prefix registered; bare names stay."""
        parsed = etree.QName(qname)
        ns, local = parsed.namespace, str(parsed.localname)
        if not ns or ns in _BINDING_NAMESPACES:
            return local
        prefix = prefix_hint or self._known_prefix(ns) or "ns"
        base, counter = prefix, 1
        while self.prefixes.get(prefix, ns) != ns:
            counter += 1
            prefix = f"{base}{counter}"
        self.prefixes[prefix] = ns
        return f"{prefix}:{local}"

    def context(self) -> dict[str, Any]:
        """The prefixes as JSON-LD term definitions.

        Written as ``{"@id": ...}`` objects rather than plain strings: an XML namespace
        names elements and attributes, while a text value such as ``example:x`` stays
        text (the event hash treats it so for XML); plain-string prefixes would also
        expand such values.
        """
        return {prefix: {"@id": ns, "@prefix": True} for prefix, ns in self.prefixes.items()}

    def _known_prefix(self, ns: str) -> str | None:
        for prefix, known in {**self.prefixes, **STANDARD_PREFIXES}.items():
            if known == ns:
                return prefix
        return None

    def element_name(self, element: Any) -> str:
        return self.name(element.tag, element.prefix)

    def attribute_name(self, element: Any, qname: str) -> str:
        ns = etree.QName(qname).namespace
        hint = next((p for p, u in element.nsmap.items() if u == ns and p), None) if ns else None
        return self.name(qname, hint)

    # generic extension content ------------------------------------------------------------

    def generic(self, element: Any) -> Any:
        """A user-extension element: text, or a mapping of its attributes and children."""
        children = list(_unwrapped(element))
        text = (element.text or "").strip()
        if not children and not element.attrib:
            return text
        out: dict[str, Any] = {}
        for qname, value in element.attrib.items():
            if etree.QName(qname).namespace == _XSI_NS:
                continue
            _put(out, self.attribute_name(element, qname), value)
        if _local(element) == "ignoreFields" and children and not element.attrib:
            return [self.element_name(c) for c in children]
        for child in children:
            _put(out, self.element_name(child), self.generic(child))
        if text:
            out["#text"] = text
        return out

    # events -------------------------------------------------------------------------

    def event(self, element: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"type": _local(element)}
        for name, value in element.attrib.items():
            _put(event, self.attribute_name(element, name), value)
        for child in _unwrapped(element):
            key = self.element_name(child)
            value = self.field(key, child)
            if key in event and key not in _TEXT_FIELDS:
                _put(event, key, value)
            else:
                event[key] = value
        return event

    def field(self, key: str, element: Any) -> Any:
        text = (element.text or "").strip()
        if key in ("bizStep", "disposition"):
            return _expand_curie(text)
        if key in _TEXT_FIELDS:
            return text
        if key in _EPC_LISTS:
            return [(c.text or "").strip() for c in _unwrapped(element)]
        if key in _QUANTITY_LISTS:
            return [self.quantity(c) for c in _unwrapped(element)]
        if key in _PAIR_LISTS:
            return [self.pair(key, c) for c in _unwrapped(element)]
        if key in ("readPoint", "bizLocation"):
            return self.location(element)
        if key == "persistentDisposition":
            return self.persistent_disposition(element)
        if key == "errorDeclaration":
            return self.error_declaration(element)
        if key == "sensorElementList":
            return [self.sensor_element(c) for c in _unwrapped(element)]
        if key == "ilmd":
            out: dict[str, Any] = {}
            for child in _unwrapped(element):
                _put(out, self.element_name(child), self.generic(child))
            return out
        return self.generic(element)

    def quantity(self, element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _unwrapped(element):
            key = self.element_name(child)
            text = (child.text or "").strip()
            if key == "quantity":
                # <quantity xsi:nil="true"/> (the XSD allows it) means no quantity.
                if text:
                    out[key] = _number(text, "quantity")
            elif key in ("epcClass", "uom"):
                out[key] = text
            else:
                _put(out, key, self.generic(child))
        return out

    def pair(self, list_name: str, element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        kind = element.get("type")
        if kind is not None:
            out["type"] = _expand_curie(kind.strip())
        out[_PAIR_LISTS[list_name]] = (element.text or "").strip()
        return out

    def location(self, element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _unwrapped(element):
            key = self.element_name(child)
            out[key] = (child.text or "").strip() if key == "id" else self.generic(child)
        return out

    def persistent_disposition(self, element: Any) -> dict[str, Any]:
        out: dict[str, list[str]] = {}
        for child in _unwrapped(element):
            out.setdefault(_local(child), []).append(_expand_curie((child.text or "").strip()))
        return out

    def error_declaration(self, element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _unwrapped(element):
            key = self.element_name(child)
            text = (child.text or "").strip()
            if key == "declarationTime":
                out[key] = text
            elif key == "reason":
                out[key] = _expand_curie(text)
            elif key == "correctiveEventIDs":
                out[key] = [(c.text or "").strip() for c in _unwrapped(child)]
            else:
                _put(out, key, self.generic(child))
        return out

    def sensor_element(self, element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _unwrapped(element):
            key = self.element_name(child)
            if key == "sensorMetadata":
                out[key] = self.sensor_attributes(child)
            elif key == "sensorReport":
                out.setdefault(key, []).append(self.sensor_attributes(child))
            else:
                _put(out, key, self.generic(child))
        return out

    def sensor_attributes(self, element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for qname, value in element.attrib.items():
            key = self.attribute_name(element, qname)
            if key in _SENSOR_NUMBERS:
                out[key] = _number(value, key)
            elif key == "booleanValue":
                out[key] = value.strip() in ("true", "1")
            else:
                out[key] = value
        for child in _unwrapped(element):
            _put(out, self.element_name(child), self.generic(child))
        return out


def _unwrapped(element: Any) -> list[Any]:
    """The child elements, with ``<extension>``/``<baseExtension>`` wrappers dissolved."""
    out: list[Any] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        if _namespace(child) is None and _local(child) in _WRAPPERS:
            out.extend(_unwrapped(child))
        else:
            out.append(child)
    return out


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``; a repeated key becomes a list, as repeated XML elements are."""
    if key not in target:
        target[key] = value
    elif isinstance(target[key], list) and not isinstance(value, list):
        target[key].append(value)
    else:
        target[key] = [target[key], value]


def _expand_curie(value: str) -> str:
    for prefix, base in _VALUE_PREFIXES.items():
        if value.startswith(prefix):
            return base + value[len(prefix) :]
    return value


def _number(text: str, what: str) -> int | float:
    try:
        number = Decimal(text.strip())
    except InvalidOperation as exc:
        raise EPCISError(f"{what}: {text!r} is not a number") from exc
    if not number.is_finite():
        raise EPCISError(f"{what}: {text!r} is not a finite number")
    if number == number.to_integral_value() and "." not in text:
        return int(number)
    return float(number)


def xml_to_jsonld(data: bytes | str) -> dict[str, Any]:
    """An EPCIS 2.0 XML (query) document as the equivalent JSON-LD dict.

    Raises :class:`EPCISError` for XML that is not well formed, carries a DTD, or is not
    an EPCIS document.
    """
    root = _epcis_2_root(data)
    kind = _local(root)
    reader = _Reader()
    document: dict[str, Any] = {"type": kind}
    for qname, value in root.attrib.items():
        if etree.QName(qname).namespace == _XSI_NS:
            continue
        document[reader.attribute_name(root, qname)] = value
    body: dict[str, Any] | None = None
    children = _unwrapped(root)
    if kind == "EPCISQueryDocument" and any(_local(c) == "resultsBody" for c in children):
        # Some producers put the QueryResults content straight under the root.
        body, children = {"queryResults": _query_results(reader, root)}, []
    for child in children:
        name = _local(child)
        if _namespace(child) is None and name == "EPCISBody":
            body = _body(reader, child)
        elif _namespace(child) is None and name == "EPCISHeader":
            document["epcisHeader"] = reader.generic(child)
        else:
            _put(document, reader.element_name(child), reader.generic(child))
    if body is None:
        raise EPCISError("EPCISBody: required element is missing")
    document["epcisBody"] = body
    document["@context"] = [EPCIS_CONTEXT, reader.context()] if reader.prefixes else [EPCIS_CONTEXT]
    return document


def _epcis_2_root(data: bytes | str) -> Any:
    """The document element, an EPCIS 1.x document rewritten as 2.0 (see ``v12``)."""
    root = _parse_root(data)
    if is_epcis_1(root):
        root = upgrade_tree(root)
    kind, ns = _local(root), _namespace(root)
    if kind not in ("EPCISDocument", "EPCISQueryDocument") or ns not in (EPCIS_NS, EPCIS_QUERY_NS):
        raise EPCISError(
            f"(root): <{kind}> in namespace {ns!r} is not an EPCIS 2.0 document "
            f"(expected epcis:EPCISDocument in {EPCIS_NS}, or an EPCIS 1.x document in "
            "urn:epcglobal:epcis:xsd:1)"
        )
    return root


def upgrade_xml(data: bytes | str) -> bytes | None:
    """An EPCIS 1.x XML document rewritten as EPCIS 2.0 XML (the standard's mapping, see
    :mod:`lineside.epcis.v12`); ``None`` when ``data`` is not an EPCIS 1.x document.

    >>> text = upgrade_xml(b'<e:EPCISDocument xmlns:e="urn:epcglobal:epcis:xsd:1" '
    ...     b'schemaVersion="1.2" creationDate="2024-05-01T00:00:00Z"><EPCISBody>'
    ...     b'<EventList/></EPCISBody></e:EPCISDocument>')
    >>> b'xmlns:e="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"' in text
    True
    >>> upgrade_xml(b'<x/>') is None
    True
    """
    root = _parse_root(data)
    if not is_epcis_1(root):
        return None
    upgraded = upgrade_tree(root)
    for element in upgraded.iter():
        # The 1.x layout's indentation, so that the 2.0 layout can be indented anew.
        if element.tail is not None and not element.tail.strip():
            element.tail = None
        if len(element) and element.text is not None and not element.text.strip():
            element.text = None
    return _serialise(upgraded)


def _body(reader: _Reader, element: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for child in _unwrapped(element):
        name = _local(child)
        if name == "EventList":
            body["eventList"] = _events(reader, child)
        elif name == "QueryResults":
            body["queryResults"] = _query_results(reader, child)
        else:
            _put(body, reader.element_name(child), reader.generic(child))
    return body


def _events(reader: _Reader, event_list: Any) -> list[dict[str, Any]]:
    events = []
    for index, element in enumerate(_unwrapped(event_list)):
        if _local(element) not in _EVENT_TYPES:
            raise EPCISError(
                f"EventList[{index}]: <{_local(element)}> (line {element.sourceline}) "
                f"is not an EPCIS 2.0 event ({', '.join(_EVENT_TYPES)})"
            )
        events.append(reader.event(element))
    return events


def _query_results(reader: _Reader, element: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in _unwrapped(element):
        name = _local(child)
        if name in ("queryName", "subscriptionID"):
            out[name] = (child.text or "").strip()
        elif name == "resultsBody":
            results: dict[str, Any] = {}
            for item in _unwrapped(child):
                if _local(item) == "EventList":
                    results["eventList"] = _events(reader, item)
                else:
                    _put(results, reader.element_name(item), reader.generic(item))
            out["resultsBody"] = results
        else:
            _put(out, reader.element_name(child), reader.generic(child))
    return out


def parse_xml_document(data: bytes | str) -> EPCISDocument:
    """An EPCIS 2.0 XML document (capture or query) as an :class:`EPCISDocument`.

    Every event is checked as :func:`parse_document` checks JSON-LD; errors name the
    JSON-LD path of the problem (``epcisBody.eventList[2].bizStep: ...``).
    """
    document = parse_document(xml_to_jsonld(data))
    # The events are kept in their canonical JSON-LD form (bare CBV terms, numbers as
    # numbers), so that an XML capture stores and converts like its JSON-LD twin.
    events = [event.to_jsonld() for event in document.events]
    body = document.epcis_body
    if body.query_results is not None:
        results = body.query_results
        results_body = {**results.results_body, "eventList": events}
        new_body = body.model_copy(
            update={"query_results": results.model_copy(update={"results_body": results_body})}
        )
    else:
        new_body = body.model_copy(update={"event_list": tuple(events)})
    return document.model_copy(update={"epcis_body": new_body})


# --- writing ---------------------------------------------------------------------------

_NOT_WRITTEN = frozenset({"type", "@context"})
_TERMS: Mapping[str, Any] = {
    "bizStep": BizStep,
    "disposition": Disposition,
    "set": Disposition,
    "unset": Disposition,
    "reason": ErrorReason,
}


def _urn(kind: Any, value: str) -> str:
    """A CBV term as the legacy URN the XML binding uses; other URIs unchanged."""
    term = kind.from_any(value)
    return str(term.urn) if term is not None else value


def _xml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        text = repr(value)
        # xsd:decimal has no exponent form.
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    return str(value)


class _Writer:
    """Builds XML elements from JSON-LD; knows the document's namespace prefixes."""

    def __init__(self, context: object) -> None:
        self.namespaces = _context_namespaces(context)
        # JSON-LD expands a compact IRI value ("example:x") with the document's own
        # string prefixes; XML text is never expanded, so the writer expands it.
        self.value_prefixes = _string_prefixes(context)
        self.used: dict[str, str] = {}

    def text(self, value: object) -> str:
        """``value`` as XML text, with compact IRIs expanded as JSON-LD would."""
        if isinstance(value, str):
            prefix, sep, local = value.partition(":")
            if sep and prefix in self.value_prefixes:
                return self.value_prefixes[prefix] + local
        return _xml_text(value)

    def qname(self, key: str, where: str) -> str:
        prefix, sep, local = key.partition(":")
        if not sep:
            return key
        ns = self.namespaces.get(prefix)
        if ns is None:
            if "://" in key or key.startswith("urn:"):
                raise EPCISError(f"{where}: {key!r} cannot be an XML element name")
            raise EPCISError(
                f"{where}: the prefix {prefix!r} of {key!r} is not declared in @context"
            )
        self.used[prefix] = ns
        return f"{{{ns}}}{local}"

    def text_element(self, parent: Any, name: str, value: object) -> Any:
        element = etree.SubElement(parent, name)
        element.text = self.text(value)
        return element

    def generic(self, parent: Any, key: str, value: Any, where: str) -> None:
        """A user extension (or any value) as element(s) under ``parent``."""
        if value is None:
            return
        ignored = key.rpartition(":")[2] == "ignoreFields" and isinstance(value, list)
        if ignored and all(isinstance(v, str) for v in value):
            # The names of the ignored fields are written as empty elements.
            element = etree.SubElement(parent, self.qname(key, where))
            for name in value:
                etree.SubElement(element, self.qname(name, where))
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                self.generic(parent, key, item, f"{where}[{index}]")
            return
        element = etree.SubElement(parent, self.qname(key, where))
        if isinstance(value, Mapping):
            for child_key, child in value.items():
                if child_key == "#text":
                    element.text = self.text(child)
                elif not child_key.startswith("@"):
                    self.generic(element, child_key, child, f"{where}.{child_key}")
        else:
            element.text = self.text(value)

    def event(self, parent: Any, data: Mapping[str, Any], where: str) -> Any:
        kind = data.get("type")
        if kind not in EVENT_FIELDS:
            raise EPCISError(f"{where}.type: {kind!r} is not an EPCIS 2.0 event type")
        element = etree.SubElement(parent, str(kind))
        standard = (*COMMON_FIELDS, *EVENT_FIELDS[str(kind)])
        for key in standard:
            if data.get(key) is not None:
                self.field(element, key, data[key], f"{where}.{key}")
        for key, value in data.items():
            if key in standard or key in _NOT_WRITTEN or value is None:
                continue
            if ":" not in key:
                raise EPCISError(f"{where}.{key}: no place for this field in {kind} XML")
            self.generic(element, key, value, f"{where}.{key}")
        return element

    def field(self, parent: Any, key: str, value: Any, where: str) -> None:
        if key in _EPC_LISTS:
            wrapper = etree.SubElement(parent, key)
            for epc in value:
                self.text_element(wrapper, "epc", epc)
        elif key in _QUANTITY_LISTS:
            wrapper = etree.SubElement(parent, key)
            for index, item in enumerate(value):
                self.quantity(wrapper, item, f"{where}[{index}]")
        elif key in _PAIR_LISTS:
            self.pairs(parent, key, value, where)
        elif key in ("readPoint", "bizLocation"):
            self.location(parent, key, value, where)
        elif key == "persistentDisposition":
            wrapper = etree.SubElement(parent, key)
            for side in ("unset", "set"):
                for term in value.get(side) or []:
                    self.text_element(wrapper, side, _urn(Disposition, term))
        elif key == "errorDeclaration":
            self.error_declaration(parent, value, where)
        elif key == "sensorElementList":
            wrapper = etree.SubElement(parent, key)
            for index, item in enumerate(value):
                self.sensor_element(wrapper, item, f"{where}[{index}]")
        elif key == "ilmd":
            wrapper = etree.SubElement(parent, key)
            for name, item in value.items():
                self.generic(wrapper, name, item, f"{where}.{name}")
        elif key == "certificationInfo" and isinstance(value, list):
            for item in value:
                self.text_element(parent, key, item)
        elif key in _TERMS:
            self.text_element(parent, key, _urn(_TERMS[key], value))
        else:
            self.text_element(parent, key, value)

    def quantity(self, parent: Any, item: Mapping[str, Any], where: str) -> None:
        element = etree.SubElement(parent, "quantityElement")
        self.text_element(element, "epcClass", item["epcClass"])
        if item.get("quantity") is not None:
            self.text_element(element, "quantity", item["quantity"])
            if item.get("uom") is not None:
                self.text_element(element, "uom", item["uom"])
        elif item.get("uom") is not None:
            raise EPCISError(f"{where}.uom: XML allows a uom only with a quantity")

    def pairs(self, parent: Any, key: str, value: Sequence[Mapping[str, Any]], where: str) -> None:
        wrapper = etree.SubElement(parent, key)
        name = _PAIR_LISTS[key]
        kind = BizTransactionType if key == "bizTransactionList" else SourceDestType
        for entry in value:
            element = self.text_element(wrapper, name, entry.get(name, ""))
            if entry.get("type") is not None:
                element.set("type", _urn(kind, entry["type"]))

    def location(self, parent: Any, key: str, value: Mapping[str, Any], where: str) -> None:
        element = etree.SubElement(parent, key)
        self.text_element(element, "id", value["id"])
        for name, item in value.items():
            if name != "id":
                self.generic(element, name, item, f"{where}.{name}")

    def error_declaration(self, parent: Any, value: Mapping[str, Any], where: str) -> None:
        element = etree.SubElement(parent, "errorDeclaration")
        self.text_element(element, "declarationTime", value["declarationTime"])
        if value.get("reason") is not None:
            self.text_element(element, "reason", _urn(ErrorReason, value["reason"]))
        if value.get("correctiveEventIDs") is not None:
            ids = etree.SubElement(element, "correctiveEventIDs")
            for event_id in value["correctiveEventIDs"]:
                self.text_element(ids, "correctiveEventID", event_id)
        for name, item in value.items():
            if name not in ("declarationTime", "reason", "correctiveEventIDs"):
                self.generic(element, name, item, f"{where}.{name}")

    def sensor_element(self, parent: Any, value: Mapping[str, Any], where: str) -> None:
        element = etree.SubElement(parent, "sensorElement")
        if value.get("sensorMetadata") is not None:
            self.sensor_attributes(element, "sensorMetadata", value["sensorMetadata"], where)
        reports = value.get("sensorReport") or []
        for index, report in enumerate(reports if isinstance(reports, list) else [reports]):
            self.sensor_attributes(element, "sensorReport", report, f"{where}[{index}]")
        for name, item in value.items():
            if name not in ("sensorMetadata", "sensorReport"):
                self.generic(element, name, item, f"{where}.{name}")

    def sensor_attributes(
        self, parent: Any, name: str, value: Mapping[str, Any], where: str
    ) -> None:
        element = etree.SubElement(parent, name)
        for key, item in value.items():
            if isinstance(item, Mapping | list):
                self.generic(element, key, item, f"{where}.{key}")
            elif item is not None:
                element.set(self.qname(key, f"{where}.{key}"), self.text(item))


def _context_namespaces(context: object) -> dict[str, str]:
    namespaces = {**STANDARD_PREFIXES, **_WRITE_PREFIXES}
    for item in context if isinstance(context, list) else [context]:
        if isinstance(item, Mapping):
            namespaces.update(_prefix_definitions(item))
    return namespaces


def _string_prefixes(context: object) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in context if isinstance(context, list) else [context]:
        if isinstance(item, Mapping):
            out.update({k: v for k, v in item.items() if isinstance(v, str)})
    return out


def _prefix_definitions(context: Mapping[str, Any]) -> dict[str, str]:
    """Prefix -> IRI from one JSON-LD context object (plain or ``{"@id": ...}`` terms)."""
    out: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, Mapping) and isinstance(value.get("@id"), str):
            out[key] = value["@id"]
    return out


def _serialise(root: Any) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


def _with_namespaces(element: Any, declared: Mapping[str, str]) -> Any:
    """A copy of ``element`` whose root declares ``declared`` (tidy prefixes, once)."""
    nsmap = {**element.nsmap, **declared}
    root = etree.Element(element.tag, attrib=dict(element.attrib), nsmap=nsmap)
    root.text = element.text
    root.extend(list(element))
    return root


def event_to_xml(event: Event | Mapping[str, Any], *, context: object = None) -> bytes:
    """One event as an XML element (``<ObjectEvent>...``), UTF-8 bytes.

    ``context`` declares the prefixes of extension fields (default: the event's own
    ``@context``, the standard prefixes and ``lineside``).
    """
    data = event if isinstance(event, Mapping) else event.to_jsonld()
    writer = _Writer(context if context is not None else data.get("@context"))
    holder = etree.Element("holder")
    element = writer.event(holder, data, "(event)")
    return _serialise(_with_namespaces(element, writer.used))


def document_to_xml(document: EPCISDocument | Mapping[str, Any]) -> bytes:
    """An EPCIS 2.0 (query) document as XML that validates against the EPCIS 2.0 XSD.

    CBV terms are written in their URN form (``urn:epcglobal:cbv:bizstep:packing``), as
    the standard's XML examples do; extension fields become elements in the namespace
    their prefix names in the document's ``@context``.
    """
    data = document.to_jsonld() if isinstance(document, EPCISDocument) else document
    writer = _Writer(data.get("@context"))
    query = data.get("type") == "EPCISQueryDocument"
    root_ns = EPCIS_QUERY_NS if query else EPCIS_NS
    kind = "EPCISQueryDocument" if query else "EPCISDocument"
    prefix = "epcisq" if query else "epcis"
    root = etree.Element(f"{{{root_ns}}}{kind}", nsmap={prefix: root_ns})
    root.set("schemaVersion", str(data.get("schemaVersion", "2.0")))
    if data.get("creationDate") is None:
        raise EPCISError("creationDate: required field is missing")
    root.set("creationDate", str(data["creationDate"]))
    if data.get("epcisHeader"):
        raise EPCISError("epcisHeader: writing a document header as XML is not supported")
    body_data = data.get("epcisBody")
    if not isinstance(body_data, Mapping):
        raise EPCISError("epcisBody: required field is missing")
    body = etree.SubElement(root, "EPCISBody")
    if query:
        results_data = body_data.get("queryResults")
        if not isinstance(results_data, Mapping):
            raise EPCISError("epcisBody.queryResults: required field is missing")
        results = etree.SubElement(body, f"{{{EPCIS_QUERY_NS}}}QueryResults")
        writer.text_element(results, "queryName", results_data.get("queryName", ""))
        if results_data.get("subscriptionID") is not None:
            writer.text_element(results, "subscriptionID", results_data["subscriptionID"])
        results_body = etree.SubElement(results, "resultsBody")
        events = results_data.get("resultsBody", {}).get("eventList", [])
        path = "epcisBody.queryResults.resultsBody.eventList"
        event_list = etree.SubElement(results_body, "EventList")
        for key, value in results_data.items():
            if ":" in key and not key.startswith("@"):
                writer.generic(results, key, value, f"epcisBody.queryResults.{key}")
    else:
        events = body_data.get("eventList", [])
        path = "epcisBody.eventList"
        event_list = etree.SubElement(body, "EventList")
    for index, event in enumerate(events):
        writer.event(event_list, event, f"{path}[{index}]")
    for key, value in data.items():
        if ":" in key and not key.startswith("@"):
            writer.generic(root, key, value, key)
    return _serialise(_with_namespaces(root, writer.used))


class XMLSchemaCheck:
    """The EPCIS 2.0 XSD (or the query XSD), loaded once from the GS1 schema files.

    The XSD files carry no open licence, so they are not bundled; pass the folder that
    holds ``EPCglobal-epcis-2_0.xsd`` and its siblings. Imports between the files are
    read from that folder, never from the network.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._schemas: dict[str, Any] = {}
        for kind, name in (
            ("EPCISDocument", "EPCglobal-epcis-2_0.xsd"),
            ("EPCISQueryDocument", "EPCglobal-epcis-query-2_0.xsd"),
        ):
            path = folder / name
            try:
                parsed = etree.parse(str(path), parser=_schema_parser())
                self._schemas[kind] = etree.XMLSchema(parsed)
            except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
                raise EPCISError(f"schema {path}: cannot be loaded: {exc}") from exc

    def issues(self, data: bytes) -> list[ValidationIssue]:
        """XSD violations of an XML document, each located by its line number."""
        root = _parse_root(data)
        if is_epcis_1(root):  # checked in its 2.0 form
            root = upgrade_tree(root)
        schema = self._schemas.get(_local(root))
        if schema is None:
            return [ValidationIssue("(root)", f"<{_local(root)}> has no EPCIS 2.0 XSD", "xsd")]
        if schema.validate(root.getroottree()):
            return []
        return [
            ValidationIssue(f"line {error.line}", error.message, "xsd")
            for error in schema.error_log
        ]


def _schema_parser() -> Any:
    # The schema files import each other by relative path: local files only.
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
