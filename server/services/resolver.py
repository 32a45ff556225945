"""The GS1 Digital Link resolver: what a consumer's scan resolves to.

:func:`resolve` reads the scanned URI, traces the code and records the scan (the count
is shown as a clone warning); :func:`linkset` and :func:`consumer_view` are the two
answers, an RFC 9264 linkset with GS1 link types and the values of the consumer page.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from lineside.epcis.identifiers import canonical_digital_link
from lineside.errors import GS1Error
from server.db.models import ConsumerScan, Facility, Line, Organisation
from server.services.codes import CodeRef, parse_code
from server.services.tracing import EventSummary, TraceResult, Verdict, trace

LINKSET_TYPE = "application/linkset+json"
GS1_VOC = "https://gs1.org/voc/"
#: Scans above which the page warns that the code may have been copied.
CLONE_WARNING_SCANS = 5


@dataclass(frozen=True, slots=True)
class ScanSource:
    """Who scanned, as far as the scan record keeps it: the client address is kept only
    as a salted hash."""

    client: str
    user_agent: str
    salt: str

    def client_hash(self) -> str:
        """The salted SHA-256 of the client address.

        >>> ScanSource("10.0.0.1", "", "s").client_hash()[:12]
        '489ec142cdfa'
        """
        return hashlib.sha256(f"{self.salt}|{self.client}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a scanned URI resolved to: ``ref`` is None when it is not a usable GTIN code."""

    ref: CodeRef | None
    result: TraceResult | None

    @property
    def known(self) -> bool:
        """A registered product whose code the system knows."""
        return (
            self.result is not None
            and self.result.product is not None
            and self.result.verdict is not Verdict.UNKNOWN
        )


def resolve(session: Session, uri: str, domains: Sequence[str], source: ScanSource) -> Resolution:
    """Trace the code of ``uri`` and record the scan; malformed codes resolve to nothing."""
    try:
        ref: CodeRef | None = parse_code(uri)
    except GS1Error:
        ref = None
    if ref is None or ref.gtin is None:
        return Resolution(None, None)
    result = trace(session, ref, domains)
    session.add(
        ConsumerScan(
            gtin=ref.gtin or "",
            lot=ref.lot,
            serial=ref.serial,
            uri=uri[:1000],
            scanned_at=datetime.now(UTC),
            client_hash=source.client_hash(),
            user_agent=source.user_agent[:500],
            verdict=result.verdict.value,
        )
    )
    return Resolution(ref, result)


def canonical_uri(domain: str, ref: CodeRef) -> str:
    """The Digital Link URI of ``ref`` on ``domain`` (primary key and key qualifiers only).

    >>> canonical_uri("https://id.example.vn", CodeRef(gtin="08934567890120", lot="A/1"))
    'https://id.example.vn/01/08934567890120/10/A%2F1'
    """
    uri = f"{domain}/01/{ref.gtin}"
    if ref.lot:
        uri += f"/10/{quote(ref.lot, safe='')}"
    if ref.serial:
        uri += f"/21/{quote(ref.serial, safe='')}"
    return uri


def linkset(domain: str, result: TraceResult) -> dict[str, Any]:
    """An RFC 9264 linkset for a resolved code, with GS1 link types as relation URIs."""
    anchor = canonical_uri(domain, result.ref)
    product = result.product
    title = product.name_vi if product is not None else result.ref.described
    page = {"href": anchor, "title": title, "type": "text/html", "hreflang": ["vi", "en"]}
    entry: dict[str, Any] = {
        "anchor": anchor,
        f"{GS1_VOC}defaultLink": [page],
        f"{GS1_VOC}pip": [page],
        f"{GS1_VOC}verificationService": [
            {"href": f"{anchor}?linkType=all", "title": result.verdict.value, "type": LINKSET_TYPE}
        ],
    }
    if product is not None and product.certificate_number:
        entry[f"{GS1_VOC}certificationInfo"] = [
            {"href": anchor + "#certificate", "title": product.certificate_number}
        ]
    if result.recall is not None:
        entry[f"{GS1_VOC}recallStatus"] = [
            {"href": anchor + "#status", "title": result.recall.reason or "recalled"}
        ]
    return {"linkset": [entry]}


_GLN_IN_LINK = re.compile(r"/414/(\d{13})(?:/|$)")


def gln_of(location: str | None) -> str | None:
    """The GLN of a location given as an SGLN URN or a GS1 Digital Link, else None.

    >>> gln_of("urn:epc:id:sgln:4012345.00011.0")
    '4012345000115'
    >>> gln_of("https://id.gs1.org/414/8938512000022/254/1"), gln_of("dock 4")
    ('8938512000022', None)
    """
    link = canonical_digital_link(location) if location else None
    found = _GLN_IN_LINK.search(link or "")
    return found.group(1) if found else None


def place_names(session: Session, result: TraceResult) -> dict[str, str]:
    """Facility (or organisation) names of the locations in a trace, by location URI."""
    glns = {
        uri: gln
        for event in result.events
        for uri in (event.biz_location, event.read_point)
        if uri and (gln := gln_of(uri)) is not None
    }
    if not glns:
        return {}
    wanted = set(glns.values())
    names: dict[str, str] = {}
    for org in session.scalars(select(Organisation).where(Organisation.gln.in_(wanted))):
        names[org.gln or ""] = org.name
    for line in session.scalars(select(Line).where(Line.site_gln.in_(wanted))):
        if line.facility is not None:
            names[line.site_gln or ""] = line.facility.name
    for facility in session.scalars(select(Facility).where(Facility.gln.in_(wanted))):
        names[facility.gln or ""] = facility.name
    return {uri: names[gln] for uri, gln in glns.items() if gln in names}


def _place(event: EventSummary, places: Mapping[str, str]) -> tuple[str, str]:
    """A stage's place: (name, GLN when the name is unknown)."""
    for uri in (event.biz_location, event.read_point):
        if uri and uri in places:
            return places[uri], ""
    for uri in (event.biz_location, event.read_point):
        gln = gln_of(uri)
        if gln:
            return "", gln
    return "", ""


def consumer_view(
    result: TraceResult, language: str, places: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """What the consumer page shows, as plain values for the template; ``places`` names
    the locations (:func:`place_names`), so the page never shows a bare location URI."""
    places = places or {}
    product = result.product
    org = result.organisation
    english = language == "en"
    name = ""
    description = ""
    if product is not None:
        name = (product.name_en if english and product.name_en else product.name_vi) or ""
        description = (
            product.description_en if english and product.description_en else product.description_vi
        ) or ""
    stages = []
    for event in result.events:
        place, gln = _place(event, places)
        if event.step == "commissioning" and result.facility is not None:
            place, gln = result.facility.name, ""
        stages.append({"step": event.step, "time": event.event_time, "place": place, "gln": gln})
    hotline = (org.hotline or org.phone) if org is not None else ""
    photo = product.image_url if product is not None and product.image_url.startswith("/") else ""
    return {
        "verdict": result.verdict.value,
        "is_genuine": result.verdict is Verdict.GENUINE,
        "product": product,
        "product_name": name,
        "description": description,
        "organisation": org,
        "facility": result.facility,
        "gtin": result.ref.gtin,
        "lot": result.lot,
        "serial": result.ref.serial,
        "production_date": result.production_date,
        "expiry_date": result.expiry_date,
        "stars": product.ocop_stars if product is not None else None,
        "stages": stages,
        "recall": result.recall,
        "scan_count": result.scan_count + 1,
        "clone_warning": result.scan_count + 1 > CLONE_WARNING_SCANS,
        "hotline": hotline,
        "photo": photo,
    }
