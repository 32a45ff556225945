"""Fuzz the EPCIS 2.0 XML binding: ``parse_xml_document`` and ``xml_to_jsonld``.

Only :class:`~lineside.errors.EPCISError` may escape, whatever the bytes: malformed XML,
DTDs, entity bombs, invalid UTF-8. A document that parses is written back as XML that
parses to the same JSON-LD.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from lineside.epcis import EPCISDocument
from lineside.epcis.xml import document_to_xml, parse_xml_document, xml_to_jsonld
from lineside.errors import EPCISError
from tests.fuzz.support import (
    InputCounter,
    fuzz_settings,
    hostile_bytes,
    hostile_text,
    long_bytes,
    mutated_bytes,
    mutated_text,
    returns_or_refuses,
)
from tests.fuzz.test_fuzz_epcis import _EVENTS

_HEAD = (
    b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" '
    b'creationDate="2026-05-01T01:00:00Z"><EPCISBody><EventList>'
)
_TAIL = b"</EventList></EPCISBody></epcis:EPCISDocument>"
_OBJECT_EVENT = (
    b"<ObjectEvent><eventTime>2026-05-01T08:00:00+07:00</eventTime>"
    b"<eventTimeZoneOffset>+07:00</eventTimeZoneOffset>"
    b"<epcList><epc>https://id.gs1.org/01/08934567890120/21/Ab3x</epc></epcList>"
    b"<action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>"
    b"</ObjectEvent>"
)
XML_SEEDS = [
    _HEAD + _OBJECT_EVENT + _TAIL,
    document_to_xml(EPCISDocument.of(_EVENTS, creation_date=datetime(2026, 5, 1, tzinfo=UTC))),
    # Hostile classics: every one must be refused with EPCISError, never expanded.
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<d>&b;</d>",
    b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
    b'<!DOCTYPE d SYSTEM "http://127.0.0.1:1/x.dtd"><d/>',
]
XML_ALPHABET = "<>/=\"'&;:!?[]-# abcdeEPCIS0123456789"


def _check_xml(data: bytes | str, inputs: InputCounter) -> None:
    inputs.tried("epcis.parse_xml_document")
    returns_or_refuses(functools.partial(xml_to_jsonld, data), EPCISError)
    document = returns_or_refuses(functools.partial(parse_xml_document, data), EPCISError)
    if document is None:
        return
    written = returns_or_refuses(functools.partial(document_to_xml, document), EPCISError)
    if written is None:
        return
    again = parse_xml_document(written)
    assert again.to_jsonld()["epcisBody"] == document.to_jsonld()["epcisBody"]


@fuzz_settings()
@given(data=st.one_of(hostile_bytes(), hostile_text(extra=XML_ALPHABET)))
def test_xml_random_input(data: bytes | str, inputs: InputCounter) -> None:
    _check_xml(data, inputs)


@fuzz_settings()
@given(data=mutated_bytes(XML_SEEDS, max_mutations=3))
def test_xml_byte_mutations(data: bytes, inputs: InputCounter) -> None:
    _check_xml(data, inputs)


@fuzz_settings()
@given(data=mutated_text([seed.decode() for seed in XML_SEEDS], alphabet=XML_ALPHABET))
def test_xml_text_mutations(data: str, inputs: InputCounter) -> None:
    _check_xml(data, inputs)


@fuzz_settings(0.1)
@given(
    data=st.one_of(
        long_bytes(prefix=_HEAD),
        st.builds(lambda n: b"<a>" * n, st.integers(1_000, 300_000)),
        st.builds(lambda n: _HEAD + _OBJECT_EVENT * n + _TAIL, st.integers(100, 3_000)),
    )
)
def test_xml_long_or_deep_input(data: bytes, inputs: InputCounter) -> None:
    _check_xml(data, inputs)
