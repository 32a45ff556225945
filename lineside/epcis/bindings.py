"""Choosing the binding of an incoming EPCIS document: JSON-LD or XML.

A capture interface receives bytes and (maybe) a ``Content-Type``. The declared type
decides when it names one of the two bindings; otherwise the content does (XML starts
with ``<``, JSON with ``{``).

>>> parse_document_bytes(b'<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" '
...     b'schemaVersion="2.0" creationDate="2024-05-01T00:00:00Z"><EPCISBody><EventList/>'
...     b'</EPCISBody></epcis:EPCISDocument>', "application/xml").events
()
>>> parse_document_bytes(b"{}", "image/png")
Traceback (most recent call last):
lineside.errors.EPCISError: content type 'image/png' is not an EPCIS binding (...)
"""

from __future__ import annotations

from enum import StrEnum

from lineside.epcis.models import EPCISDocument, parse_document
from lineside.errors import EPCISError

__all__ = ["Binding", "binding_for", "parse_document_bytes"]


class Binding(StrEnum):
    """The two EPCIS 2.0 document bindings."""

    JSON_LD = "json"
    XML = "xml"


# Types that say nothing about the content: decide by sniffing.
_UNDECLARED = frozenset({"", "application/octet-stream", "text/plain"})


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _sniff(data: bytes) -> Binding:
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    return Binding.XML if text.startswith(b"<") else Binding.JSON_LD


def binding_for(data: bytes, content_type: str | None = None) -> Binding:
    """Which binding ``data`` is in, from its declared type or else its first byte.

    >>> binding_for(b"<x/>"), binding_for(b"{}", "application/ld+json; charset=utf-8")
    (<Binding.XML: 'xml'>, <Binding.JSON_LD: 'json'>)
    """
    media = _media_type(content_type)
    if media in _UNDECLARED:
        return _sniff(data)
    if media in ("application/xml", "text/xml") or media.endswith("+xml"):
        return Binding.XML
    if media == "application/json" or media.endswith("+json"):
        return Binding.JSON_LD
    raise EPCISError(
        f"content type {media!r} is not an EPCIS binding "
        "(application/ld+json, application/json or application/xml)"
    )


def parse_document_bytes(data: bytes, content_type: str | None = None) -> EPCISDocument:
    """An EPCIS 2.0 document from bytes in either binding; see :func:`binding_for`.

    Raises :class:`EPCISError` for an unknown content type, malformed JSON or XML, or an
    invalid document.
    """
    if binding_for(data, content_type) is Binding.XML:
        # Imported here so that JSON-only users do not load lxml.
        from lineside.epcis.xml import parse_xml_document

        return parse_xml_document(data)
    return parse_document(data)
