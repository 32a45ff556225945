"""EPCIS 2.0 XML documents written back in the EPCIS 1.2 layout, for tests.

The shared vectors hold EPCIS 2.0 documents with known event hashes; written in the 1.2
layout (the 1.2 XSD's namespaces, ``baseExtension`` and ``extension`` wrappers, a
``TransformationEvent`` inside an ``EventList`` extension), each must read back to the
same hashes. The 2.0-only fields and the AssociationEvent go where GS1's bridging 1.2
schema puts them: one extension deeper.

This is written from the 1.2 XSD, independently of the library's 1.2 reader. Checked
against GS1's 1.2 XSD (not among the vectors): every document it writes from the vectors
validates, except those whose 2.0 original is not XSD-valid either and the master-data
header that lacks the SBDH which 1.2 requires.
"""

from __future__ import annotations

from typing import Any

from lxml import etree  # type: ignore[import-untyped]

# A hand-written EPCIS 1.2 document: an ObjectEvent with its 1.1/1.2 fields in <extension>,
# a TransformationEvent in an EventList extension, a QuantityEvent.
V12 = b"""<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:1"
    xmlns:vn="https://ns.example.vn/epcis/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="urn:epcglobal:epcis:xsd:1 EPCglobal-epcis-1_2.xsd"
    schemaVersion="1.2" creationDate="2024-05-01T01:00:00Z">
  <EPCISBody>
    <EventList>
      <ObjectEvent>
        <eventTime>2024-05-01T08:00:00.000+07:00</eventTime>
        <eventTimeZoneOffset>+07:00</eventTimeZoneOffset>
        <baseExtension>
          <eventID>urn:uuid:0b8c5a4e-6c1f-4d39-9b59-1f1f0f6a2a01</eventID>
        </baseExtension>
        <epcList>
          <epc>urn:epc:id:sgtin:8934567.089012.Ab3x</epc>
        </epcList>
        <action>ADD</action>
        <bizStep>urn:epcglobal:cbv:bizstep:commissioning</bizStep>
        <disposition>urn:epcglobal:cbv:disp:active</disposition>
        <readPoint><id>urn:epc:id:sgln:8934567.00001.L1</id></readPoint>
        <extension>
          <quantityList>
            <quantityElement>
              <epcClass>urn:epc:class:lgtin:8934567.089012.LOT7</epcClass>
              <quantity>12.5</quantity>
              <uom>KGM</uom>
            </quantityElement>
          </quantityList>
          <sourceList>
            <source type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:pgln:8934567.00000</source>
          </sourceList>
          <ilmd>
            <vn:harvestDate>2024-04-30</vn:harvestDate>
          </ilmd>
        </extension>
        <!-- a user extension after the standard fields -->
        <vn:line>L1</vn:line>
      </ObjectEvent>
      <extension>
        <TransformationEvent>
          <eventTime>2024-05-01T09:00:00.000+07:00</eventTime>
          <eventTimeZoneOffset>+07:00</eventTimeZoneOffset>
          <inputEPCList><epc>urn:epc:id:sgtin:8934567.089012.Ab3x</epc></inputEPCList>
          <outputEPCList><epc>urn:epc:id:sgtin:8934567.089029.Zq9w</epc></outputEPCList>
          <bizStep>urn:epcglobal:cbv:bizstep:repackaging</bizStep>
          <ilmd><vn:batch>B-12</vn:batch></ilmd>
        </TransformationEvent>
      </extension>
      <QuantityEvent>
        <eventTime>2024-05-01T10:00:00.000+07:00</eventTime>
        <eventTimeZoneOffset>+07:00</eventTimeZoneOffset>
        <epcClass>urn:epc:idpat:sgtin:8934567.089012.*</epcClass>
        <quantity>40</quantity>
        <bizStep>urn:epcglobal:cbv:bizstep:storing</bizStep>
        <readPoint><id>urn:epc:id:sgln:8934567.00001.0</id></readPoint>
      </QuantityEvent>
    </EventList>
  </EPCISBody>
</epcis:EPCISDocument>
"""

# The same events as EPCIS 2.0 JSON-LD, written from the standard, not by the converter.
V20_EVENTS: list[dict[str, object]] = [
    {
        "type": "ObjectEvent",
        "eventTime": "2024-05-01T08:00:00.000+07:00",
        "eventTimeZoneOffset": "+07:00",
        "eventID": "urn:uuid:0b8c5a4e-6c1f-4d39-9b59-1f1f0f6a2a01",
        "epcList": ["urn:epc:id:sgtin:8934567.089012.Ab3x"],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "urn:epc:id:sgln:8934567.00001.L1"},
        "quantityList": [
            {"epcClass": "urn:epc:class:lgtin:8934567.089012.LOT7", "quantity": 12.5, "uom": "KGM"}
        ],
        "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:8934567.00000"}],
        "ilmd": {"vn:harvestDate": "2024-04-30"},
        "vn:line": "L1",
    },
    {
        "type": "TransformationEvent",
        "eventTime": "2024-05-01T09:00:00.000+07:00",
        "eventTimeZoneOffset": "+07:00",
        "inputEPCList": ["urn:epc:id:sgtin:8934567.089012.Ab3x"],
        "outputEPCList": ["urn:epc:id:sgtin:8934567.089029.Zq9w"],
        "bizStep": "repackaging",
        "ilmd": {"vn:batch": "B-12"},
    },
    {
        "type": "ObjectEvent",
        "eventTime": "2024-05-01T10:00:00.000+07:00",
        "eventTimeZoneOffset": "+07:00",
        "action": "OBSERVE",
        "quantityList": [{"epcClass": "urn:epc:idpat:sgtin:8934567.089012.*", "quantity": 40}],
        "bizStep": "storing",
        "readPoint": {"id": "urn:epc:id:sgln:8934567.00001.0"},
    },
]
V20 = {
    "@context": [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"vn": "https://ns.example.vn/epcis/"},
    ],
    "type": "EPCISDocument",
    "schemaVersion": "2.0",
    "creationDate": "2024-05-01T01:00:00Z",
    "epcisBody": {"eventList": V20_EVENTS},
}


_NAMESPACES = {
    "urn:epcglobal:epcis:xsd:2": "urn:epcglobal:epcis:xsd:1",
    "urn:epcglobal:epcis-query:xsd:2": "urn:epcglobal:epcis-query:xsd:1",
}
_SCHEMA_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
_BASE = ("eventID", "errorDeclaration")
_LATER = ("sensorElementList", "persistentDisposition", "certificationInfo")
# Fields that a 1.2 event keeps in its <extension>, by event type.
_EXTENDED = {
    "ObjectEvent": ("quantityList", "sourceList", "destinationList", "ilmd"),
    "AggregationEvent": ("childQuantityList", "sourceList", "destinationList"),
    "TransactionEvent": ("quantityList", "sourceList", "destinationList"),
    "TransformationEvent": (),
    "AssociationEvent": (),
}
# The list a 1.2 event of this type always carries, empty or not.
_REQUIRED_LIST = {
    "ObjectEvent": "epcList",
    "AggregationEvent": "childEPCs",
    "TransactionEvent": "epcList",
}
_HEAD = ("eventTime", "recordTime", "eventTimeZoneOffset")


def to_v12(data: bytes) -> bytes:
    """The EPCIS 2.0 XML document ``data`` in the EPCIS 1.2 layout."""
    parser = etree.XMLParser(
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
        resolve_entities=False,
        no_network=True,
    )
    root = etree.fromstring(data, parser=parser)
    nsmap = {p: _NAMESPACES.get(ns, ns) for p, ns in root.nsmap.items()}
    new = etree.Element(_tag(root), nsmap=nsmap, attrib=dict(root.attrib))
    new.set("schemaVersion", "1.2")
    new.attrib.pop(_SCHEMA_LOCATION, None)  # it names the 2.0 XSD
    for child in root:
        new.append(_copy(child))
    for event_list in new.iter("EventList"):
        for event in list(event_list):
            event_list.replace(event, _event(event))
    keep = [p for p, ns in root.nsmap.items() if p and ns not in _NAMESPACES]
    etree.cleanup_namespaces(new, keep_ns_prefixes=keep)
    return bytes(etree.tostring(new, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _event(event: Any) -> Any:
    kind = event.tag
    fields = list(event)
    for wrapper in [f for f in fields if f.tag == "extension"]:
        fields.remove(wrapper)
        fields.extend(wrapper)  # a 2.0 event extension holds user extensions
    users = [f for f in fields if "}" in f.tag]
    own = [f for f in fields if "}" not in f.tag]
    head = [f for f in own if f.tag in _HEAD]
    base = [f for f in own if f.tag in _BASE]
    later = [f for f in own if f.tag in _LATER]
    extended = [f for f in own if f.tag in _EXTENDED[kind]]
    rest = [f for f in own if f not in (*head, *base, *later, *extended)]
    required = _REQUIRED_LIST.get(kind)
    if required is not None and all(f.tag != required for f in rest):
        # 1.2 requires the list (it may be empty), just before the action.
        action = next(i for i, f in enumerate(rest) if f.tag == "action")
        rest.insert(action, etree.Element(required))
    for declaration in base:
        if declaration.tag == "errorDeclaration":
            # 1.2 puts the standard fields first, user extensions after.
            declaration[:] = sorted(declaration, key=lambda f: "}" in f.tag)
    new = etree.Element(kind, attrib=dict(event.attrib))
    new.extend(head)
    if base:
        etree.SubElement(new, "baseExtension").extend(base)
    new.extend(rest)
    if kind in ("TransformationEvent", "AssociationEvent"):
        # Their own fields stay; the 2.0-only ones go into their extension.
        if later:
            etree.SubElement(new, "extension").extend(later)
        new.extend(users)
        wrapper = etree.Element("extension")
        inner = wrapper if kind == "TransformationEvent" else etree.SubElement(wrapper, "extension")
        inner.append(new)
        return wrapper
    if extended or later:
        extension = etree.SubElement(new, "extension")
        extension.extend(extended)
        if later:
            etree.SubElement(extension, "extension").extend(later)
    new.extend(users)
    return new


def _copy(element: Any) -> Any:
    new = etree.fromstring(etree.tostring(element))
    for item in new.iter():
        if isinstance(item.tag, str):
            item.tag = _tag(item)
    return new


def _tag(element: Any) -> str:
    qname = etree.QName(element)
    if qname.namespace is None:
        return str(qname.localname)
    return f"{{{_NAMESPACES.get(qname.namespace, qname.namespace)}}}{qname.localname}"
