"""The GS1-Conformant resolver: what a GS1 Digital Link URI links to.

:func:`read_request` reads a request URI (uncompressed, compressed or partly
compressed; trailing slash and GTIN-8/12/13 tolerated) into a :class:`LinkRequest`,
raising :class:`DigitalLinkError` with the parser's message. :func:`links_for` lists
the links of a known key (a registered product's GTIN, an SSCC events name, a
facility's or organisation's GLN); :func:`linkset` writes them as an RFC 9264
linkset. None of this records a consumer scan: machine lookups are not scans.

The consumer page is one of the links (``gs1:pip``, the default for a GTIN) on its own
URL, ``/p/01/...``; :func:`read_code` traces a code for it (on the read replica, when
there is one), :func:`record_view` records the view (on the primary) with a
privacy-preserving device key (:class:`ScanSource`), and :func:`scan_summary` says how
many distinct devices, in how many networks, have viewed a serialised code.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from lineside.epcis.identifiers import canonical_digital_link
from lineside.errors import DigitalLinkError, GS1Error
from lineside.gs1 import GS1Message, decompress_digital_link, split_digital_link, to_digital_link
from lineside.gs1.compression import is_compressed_segment
from lineside.gs1.message import ElementString
from server.db.models import ConsumerScan, EventEpc, Facility, Line, Organisation, Product
from server.services.codes import CodeRef, instance_identifiers, parse_code
from server.services.tracing import (
    EventSummary,
    TraceResult,
    Verdict,
    active_recall,
    trace,
    trace_domains,
    with_company_prefix,
)

__all__ = [
    "CLONE_WARNING_DEVICES",
    "GS1_VOC",
    "LINKSET_TYPE",
    "Link",
    "LinkRequest",
    "ScanSource",
    "ScanSummary",
    "canonical_uri",
    "consumer_view",
    "link_types_match",
    "links_for",
    "linkset",
    "place_names",
    "read_code",
    "read_request",
    "record_view",
    "resolver_description",
    "scan_summary",
    "view_code",
]

LINKSET_TYPE = "application/linkset+json"
GS1_VOC = "https://gs1.org/voc/"
#: Other spellings of the GS1 Web Vocabulary a ``linkType`` may use.
_VOC_ALIASES = (
    "gs1:",
    "https://gs1.org/voc/",
    "https://ref.gs1.org/voc/",
    "https://www.gs1.org/voc/",
)
LINKSET_CONTEXT = "https://ref.gs1.org/standards/resolver/linkset-context"
#: Primary keys this resolver answers for.
SUPPORTED_KEYS = ("01", "00", "414")
#: Distinct devices above which a serialised code's page warns it may have been copied.
CLONE_WARNING_DEVICES = 5


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """A request URI read: its key and qualifiers, its data attributes and query string.

    ``compressed_from`` is the compressed URI when the request was compressed.
    """

    primary: ElementString
    qualifiers: tuple[ElementString, ...]
    attributes: tuple[ElementString, ...]
    query: str
    compressed_from: str | None = None

    @property
    def path(self) -> str:
        """The uncompressed path: primary key and qualifiers, percent-encoded."""
        return to_digital_link(GS1Message((self.primary, *self.qualifiers)), stem="")

    def uncompressed(self, domain: str) -> str:
        """The uncompressed request URI on ``domain``, data attributes and query kept."""
        return f"{domain}{self.path}" + (f"?{self.query}" if self.query else "")


def read_request(domain: str, raw_path: str, query: str) -> LinkRequest:
    """Read the path and query of a request to the resolver.

    >>> r = read_request("https://id.example.vn", "/01/8934567890120/", "17=271231")
    >>> r.path, [a.ai for a in r.attributes]
    ('/01/08934567890120', ['17'])
    >>> read_request("https://id.example.vn", "/01/08934567890121", "")
    Traceback (most recent call last):
    ...
    lineside.errors.DigitalLinkError: Digital Link: AI (01): check digit 0 expected, got 1
    """
    path = raw_path.rstrip("/") or "/"
    uri = f"{domain}{path}" + (f"?{query}" if query else "")
    compressed_from: str | None = None
    if is_compressed_segment(path.rsplit("/", 1)[-1]) and not _looks_uncompressed(path):
        compressed_from = uri
        uri = decompress_digital_link(uri)
        query = uri.partition("?")[2]
    parts = split_digital_link(uri, permit_zero_suppressed_gtin=True)
    message = parts.message
    try:
        message.validate()
    except DigitalLinkError:
        raise
    except GS1Error as exc:
        raise DigitalLinkError(f"Digital Link: {exc}") from exc
    if parts.primary_key.ai not in SUPPORTED_KEYS:
        raise DigitalLinkError(
            f"Digital Link: this resolver answers for AIs ({'), ('.join(SUPPORTED_KEYS)}) "
            f"only, not ({parts.primary_key.ai})"
        )
    return LinkRequest(
        primary=parts.primary_key,
        qualifiers=parts.qualifiers,
        attributes=parts.attributes,
        query=query,
        compressed_from=compressed_from,
    )


def _looks_uncompressed(path: str) -> bool:
    """A path whose last two segments are an AI and its value (``/21/ABCDEF``)."""
    segments = path.strip("/").split("/")
    return len(segments) >= 2 and segments[-2].isdigit() and 2 <= len(segments[-2]) <= 4


# --------------------------------------------------------------------------- links


@dataclass(frozen=True, slots=True)
class Link:
    """One link of a key: its GS1 link type (``pip``), target, title and media."""

    rel: str
    href: str
    title: str
    media_type: str | None = None
    hreflang: tuple[str, ...] = ()

    @property
    def rel_uri(self) -> str:
        """The link type as a full URI."""
        return GS1_VOC + self.rel

    def as_json(self) -> dict[str, Any]:
        """The link's target object in an RFC 9264 linkset."""
        out: dict[str, Any] = {"href": self.href, "title": self.title}
        if self.media_type:
            out["type"] = self.media_type
        if self.hreflang:
            out["hreflang"] = list(self.hreflang)
        return out


@dataclass(frozen=True, slots=True)
class KeyLinks:
    """The links of a known key; the first is the default."""

    anchor: str
    links: tuple[Link, ...]
    item_description: str = ""

    @property
    def default(self) -> Link:
        return self.links[0]


def link_types_match(requested: str, rel: str) -> bool:
    """Whether a ``linkType`` value names link type ``rel``, in any spelling.

    >>> link_types_match("gs1:pip", "pip"), link_types_match("https://ref.gs1.org/voc/pip", "pip")
    (True, True)
    >>> link_types_match("gs1:epil", "pip")
    False
    """
    for prefix in _VOC_ALIASES:
        if requested.startswith(prefix):
            return requested[len(prefix) :] == rel
    return requested == rel


def canonical_uri(domain: str, ref: CodeRef) -> str:
    """The Digital Link URI of ``ref`` on ``domain`` (primary key and key qualifiers only).

    >>> canonical_uri("https://id.example.vn", CodeRef(gtin="08934567890120", lot="A/1"))
    'https://id.example.vn/01/08934567890120/10/A%2F1'
    """
    elements = (
        [ElementString("00", ref.sscc)] if ref.sscc else [ElementString("01", ref.gtin or "")]
    )
    if not ref.sscc:
        elements += [ElementString(ai, v) for ai, v in (("10", ref.lot), ("21", ref.serial)) if v]
    return to_digital_link(GS1Message(tuple(elements)), stem=domain)


def links_for(session: Session, domain: str, request: LinkRequest) -> KeyLinks | None:
    """The links of the requested key, or ``None`` when the key is unknown here."""
    anchor = f"{domain}{request.path}"
    key = request.primary
    if key.ai == "01":
        return _product_links(session, domain, request, anchor)
    if key.ai == "00":
        return _sscc_links(session, domain, key.value, anchor)
    return _gln_links(session, domain, key.value, anchor)


def _product_links(
    session: Session, domain: str, request: LinkRequest, anchor: str
) -> KeyLinks | None:
    product = session.scalar(select(Product).where(Product.gtin == request.primary.value))
    if product is None:
        return None
    page = f"{domain}/p{request.path}"
    title = product.name_vi or request.primary.value
    pip = Link("pip", page, title, "text/html", ("vi", "en"))
    links = [
        Link("defaultLink", page, title),
        pip,
        Link(
            "verificationService", page, "Kiểm tra mã (verify this code)", "text/html", ("vi", "en")
        ),
    ]
    if product.certificate_number:
        links.append(
            Link(
                "certificationInfo",
                f"{page}?section=certificate",
                product.certificate_number,
                "text/html",
            )
        )
    lot = next((q.value for q in request.qualifiers if q.ai == "10"), None)
    recall = active_recall(session, product.gtin, lot)
    if recall is not None:
        links.append(
            Link("recallStatus", f"{page}?section=status", recall.reason or "recalled", "text/html")
        )
    element_string = GS1Message((request.primary, *request.qualifiers)).as_bracketed()
    links.append(
        Link(
            "traceability",
            f"{domain}/trace/{element_string}",
            "Trace (sign-in required)",
            "application/json",
        )
    )
    return KeyLinks(anchor, tuple(links), title)


def _sscc_links(session: Session, domain: str, sscc: str, anchor: str) -> KeyLinks | None:
    ref = with_company_prefix(session, CodeRef(sscc=sscc))
    identifiers = instance_identifiers(ref, trace_domains(domain))
    known = session.scalar(select(EventEpc.event_id).where(EventEpc.epc.in_(identifiers)).limit(1))
    if known is None:
        return None
    title = f"Logistic unit (00){sscc}"
    trace_link = Link("traceability", f"{domain}/trace/(00){sscc}", title, "application/json")
    return KeyLinks(anchor, (trace_link,), title)


def _gln_links(session: Session, domain: str, gln: str, anchor: str) -> KeyLinks | None:
    facility = session.scalar(select(Facility).where(Facility.gln == gln))
    if facility is not None:
        link = Link(
            "locationInfo", f"{domain}/facilities/{facility.id}", facility.name, "application/json"
        )
        return KeyLinks(anchor, (link,), facility.name)
    organisation = session.scalar(select(Organisation).where(Organisation.gln == gln))
    if organisation is not None:
        link = Link(
            "locationInfo",
            f"{domain}/organisations/{organisation.id}",
            organisation.name,
            "application/json",
        )
        return KeyLinks(anchor, (link,), organisation.name)
    return None


def linkset(found: KeyLinks) -> dict[str, Any]:
    """An RFC 9264 linkset: one context object, the anchor and its links by type URI."""
    entry: dict[str, Any] = {"anchor": found.anchor}
    if found.item_description:
        entry["itemDescription"] = found.item_description
    for link in found.links:
        entry.setdefault(link.rel_uri, []).append(link.as_json())
    return {"linkset": [entry]}


def resolver_description(domain: str, name: str) -> dict[str, Any]:
    """The resolver description file served at ``/.well-known/gs1resolver``."""
    return {
        "name": name,
        "resolverRoot": domain,
        "supportedPrimaryKeys": list(SUPPORTED_KEYS),
        "supportedLinkType": [{"namespace": GS1_VOC, "prefix": "gs1:"}],
        "linkTypeDefaultCanBeLinkset": False,
        "jsonLdContextLocation": LINKSET_CONTEXT,
    }


# --------------------------------------------------------------------------- consumer views


@dataclass(frozen=True, slots=True)
class ScanSource:
    """Who viewed a code, kept only as salted hashes.

    ``device`` is the value of the page's first-party device cookie when the browser sent
    one. Without it, the device is identified by its address and user agent for the day,
    and :meth:`device_token` is the cookie value to give it: the same for the same
    address, agent and day, so a browser that refuses cookies is not counted anew on
    every reload.
    """

    client: str
    user_agent: str
    salt: str
    device: str | None = None
    day: str = field(default_factory=lambda: datetime.now(UTC).date().isoformat())

    def _mac(self, text: str) -> str:
        return hmac.new(self.salt.encode(), text.encode(), hashlib.sha256).hexdigest()

    def device_token(self) -> str:
        """The device cookie value: a signed identifier.

        >>> token = ScanSource("10.0.0.1", "UA", "s", day="2026-12-01").device_token()
        >>> token
        'f79b7cbe7f587a60ec2aec21c92a4195.f6153e29972cb290'
        >>> ScanSource("10.9.9.9", "other", "s", device=token).device_token() == token
        True
        >>> forged = ScanSource("10.0.0.2", "UA", "s", device="f" * 32 + ".0", day="2026-12-01")
        >>> forged.device_token().startswith("f" * 32)
        False
        """
        if self.device is not None and self._valid(self.device):
            return self.device
        ident = self._mac(f"device|{self.client}|{self.user_agent}|{self.day}")[:32]
        return f"{ident}.{self._mac(f'sign|{ident}')[:16]}"

    def _valid(self, token: str) -> bool:
        ident, _, signature = token.partition(".")
        return len(ident) == 32 and hmac.compare_digest(signature, self._mac(f"sign|{ident}")[:16])

    def device_key(self) -> str:
        """What scans of one device share: a hash of its token."""
        return self._mac(f"key|{self.device_token()}")

    def network_key(self) -> str:
        """A hash of the client's network (IPv4 /24, IPv6 /48): a coarse 'place'."""
        try:
            address = ipaddress.ip_address(self.client)
        except ValueError:
            return self._mac("network|unknown")
        prefix = 24 if address.version == 4 else 48
        network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        return self._mac(f"network|{network}")

    def client_hash(self) -> str:
        """The salted SHA-256 of the client address.

        >>> ScanSource("10.0.0.1", "", "s").client_hash()[:12]
        '489ec142cdfa'
        """
        return hashlib.sha256(f"{self.salt}|{self.client}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """What consumer views of one code add up to."""

    views: int
    devices: int
    places: int
    since: datetime | None

    @property
    def clone_warning(self) -> bool:
        return self.devices > CLONE_WARNING_DEVICES


def scan_summary(session: Session, ref: CodeRef) -> ScanSummary:
    """Views, distinct devices and networks, and the first view of a serialised code.

    Lot-level codes are printed on every unit of the lot: their views say nothing about
    copies, so they count nothing.
    """
    if not ref.gtin or not ref.serial:
        return ScanSummary(0, 0, 0, None)
    views, devices, places, since = session.execute(
        select(
            func.count(),
            func.count(distinct(ConsumerScan.device_key)),
            func.count(distinct(ConsumerScan.network_key)),
            func.min(ConsumerScan.scanned_at),
        ).where(
            ConsumerScan.gtin == ref.gtin,
            ConsumerScan.serial == ref.serial,
            or_(ConsumerScan.device_key != "", ConsumerScan.network_key != ""),
        )
    ).one()
    return ScanSummary(int(views), int(devices), int(places), since)


def read_code(
    session: Session, uri: str, domains: Sequence[str]
) -> tuple[CodeRef | None, TraceResult | None]:
    """Trace the code a consumer page shows; malformed codes and codes without a GTIN
    resolve to nothing. Only reads: ``session`` may be the read replica's."""
    try:
        ref: CodeRef | None = parse_code(uri)
    except GS1Error:
        ref = None
    if ref is None or ref.gtin is None:
        return ref, None
    return ref, trace(session, ref, domains)


def record_view(
    session: Session,
    uri: str,
    ref: CodeRef | None,
    result: TraceResult | None,
    source: ScanSource,
) -> None:
    """Record a consumer's view of a code read by :func:`read_code` (codes without a GTIN
    are not recorded). ``session`` is the primary's."""
    if ref is None or ref.gtin is None or result is None:
        return
    session.add(
        ConsumerScan(
            gtin=ref.gtin,
            lot=ref.lot,
            serial=ref.serial,
            uri=uri[:1000],
            scanned_at=datetime.now(UTC),
            client_hash=source.client_hash(),
            device_key=source.device_key(),
            network_key=source.network_key(),
            user_agent=source.user_agent[:500],
            verdict=result.verdict.value,
        )
    )
    session.flush()


def view_code(
    session: Session, uri: str, domains: Sequence[str], source: ScanSource
) -> tuple[CodeRef | None, TraceResult | None]:
    """:func:`read_code` and :func:`record_view` on one session."""
    ref, result = read_code(session, uri, domains)
    record_view(session, uri, ref, result, source)
    return ref, result


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
    result: TraceResult,
    language: str,
    scans: ScanSummary,
    places: Mapping[str, str] | None = None,
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
        "organisation": result.organisation,
        "facility": result.facility,
        "gtin": result.ref.gtin,
        "lot": result.lot,
        "serial": result.ref.serial,
        "production_date": result.production_date,
        "expiry_date": result.expiry_date,
        "stars": product.ocop_stars if product is not None else None,
        "stages": stages,
        "recall": result.recall,
        "scans": scans,
        "clone_warning": scans.clone_warning,
        "hotline": hotline,
        "photo": photo,
    }
