"""Authorised events: who may report what happened to which codes.

A line (over MQTT) or a business user (over ``POST /epcis/capture``) may only report
events about codes of its own organisation: every GTIN (of an SGTIN, an LGTIN or a
class-level quantity) and every SSCC an event names must belong to the reporter's
organisation, through a registered product or one of its GS1 company prefixes. A line
may moreover only name serials issued to it: those of its serial blocks, or serials of
its declared offline reserve (``lines.offline_reserve``): the first event of a line
naming a serial that nobody was issued claims it from that reserve, and the server
records it as issued to that line, in the line's offline block. Any event may be that
first one: a label printed from the reserve and rejected is decommissioned without ever
being commissioned, and with several ingestors a case's packing event may be stored
before its units' commissioning. A serial issued to (or claimed by) another line is
always refused. And every event's ``eventID``, when it is an event hash
(``ni:///sha-256;...``), must be that event's hash, recomputed here.

Refusals are reasons in words; the ingestor and the capture interface dead-letter the
event with that reason and store nothing, so a refused event never changes a code's
status. Identifiers other than GTINs and SSCCs (locations, returnable assets, private
URIs) are not checked here.

>>> hash_problem({"type": "ObjectEvent", "eventID": "ni:///sha-256;00?ver=CBV2.0",
...     "eventTime": "2026-01-01T00:00:00Z", "eventTimeZoneOffset": "+07:00",
...     "action": "ADD", "epcList": []})[:33]
'eventID ni:///sha-256;00?ver=CBV2'
>>> codes_of_uris(["urn:epc:id:sgtin:8934567.089012.S1", "urn:epc:id:sscc:8934567.0000000001"])
Codes(serials=(('08934567890120', 'S1'),), gtins=('08934567890120',), ssccs=('089345670000000017',))
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lineside.epcis import event_hash
from lineside.epcis.identifiers import canonical_digital_link
from lineside.errors import EPCISError
from server.db.events import IndexedEvent
from server.db.models import CompanyPrefix, IssuedSerial, Product, SerialBlock
from server.db.types import utcnow

__all__ = [
    "OFFLINE_BLOCK_PREFIX",
    "ClaimConflict",
    "Codes",
    "EventRights",
    "Reporter",
    "codes_of_uris",
    "hash_problem",
    "offline_block_id",
]

#: Serial blocks whose id starts with this hold the serials a line drew itself.
OFFLINE_BLOCK_PREFIX = "offline-"

_SGTIN = re.compile(r"^https://id\.gs1\.org/01/(\d{14})/21/([^/?#]+)$")
_GTIN = re.compile(r"^https://id\.gs1\.org/01/(\d{14})(?:/|$)")
_SSCC = re.compile(r"^https://id\.gs1\.org/00/(\d{18})$")
_HASH_ID = re.compile(r"^ni:///sha-256;([0-9a-fA-F]*)(?:\?.*)?$")

# On PostgreSQL the batch's serials travel as arrays in statements whose text never
# changes (parsed once per connection), rather than as ever different IN lists.
_PG_ISSUED = """
SELECT i.gtin, i.serial, b.line_id
FROM unnest(%(gtin)s::text[], %(serial)s::text[]) AS wanted(gtin, serial)
JOIN issued_serials AS i ON i.gtin = wanted.gtin AND i.serial = wanted.serial
JOIN serial_blocks AS b ON b.id = i.block_id
"""
_PG_CLAIM = """
INSERT INTO issued_serials (gtin, serial, block_id)
SELECT %(gtin)s, serial, %(block_id)s FROM unnest(%(serial)s::text[]) AS claimed(serial)
ON CONFLICT DO NOTHING
RETURNING serial
"""

# Built once and run on the connection: a batch of one event runs each of them once, and
# building a statement (and going through the ORM to run it) cost more than running it.
_PREFIX_OWNERS = select(CompanyPrefix.prefix, CompanyPrefix.organisation_id).where(
    CompanyPrefix.prefix.in_(bindparam("prefixes", expanding=True))
)
_PRODUCT_OWNERS = select(Product.gtin, Product.organisation_id).where(
    Product.gtin.in_(bindparam("gtins", expanding=True))
)
_ISSUED = (
    select(IssuedSerial.gtin, IssuedSerial.serial, SerialBlock.line_id)
    .join(SerialBlock, SerialBlock.id == IssuedSerial.block_id)
    .where(tuple_(IssuedSerial.gtin, IssuedSerial.serial).in_(bindparam("pairs", expanding=True)))
)
_OFFLINE_USED = select(func.coalesce(func.sum(SerialBlock.count), 0)).where(
    SerialBlock.line_id == bindparam("line_id"),
    SerialBlock.id.startswith(OFFLINE_BLOCK_PREFIX),
)
_CLAIMED_ELSEWHERE = (
    select(IssuedSerial.serial)
    .join(SerialBlock, SerialBlock.id == IssuedSerial.block_id)
    .where(
        IssuedSerial.gtin == bindparam("gtin"),
        IssuedSerial.serial.in_(bindparam("serials", expanding=True)),
        SerialBlock.line_id != bindparam("line_id"),
    )
    .limit(1)
)
_COUNT_CLAIMED = (
    update(SerialBlock)
    .where(SerialBlock.id == bindparam("block_id"))
    .values(count=SerialBlock.count + bindparam("claimed"))
)
_NEW_BLOCK = {
    "postgresql": postgresql.insert(SerialBlock).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(SerialBlock).on_conflict_do_nothing(),
}
_SQLITE_CLAIM = sqlite.insert(IssuedSerial).on_conflict_do_nothing().returning(IssuedSerial.serial)


def hash_problem(event: dict[str, Any], *, context: object = None) -> str | None:
    """Why ``event``'s ``eventID`` cannot be trusted, or None when it is its event hash
    (or is not an event hash at all: UUID event IDs are the reporter's own business)."""
    event_id = event.get("eventID")
    if not isinstance(event_id, str):
        return None
    claimed = _HASH_ID.match(event_id)
    if claimed is None:
        return None
    try:
        actual = event_hash(event, context=context)
    except (EPCISError, ValueError, TypeError) as exc:
        return f"eventID {event_id:.100}: the event hash cannot be computed: {exc}"
    computed = _HASH_ID.match(actual)
    if computed is None or computed.group(1).lower() != claimed.group(1).lower():
        return f"eventID {event_id:.100} is not the event's hash (the event hashes to {actual})"
    return None


@dataclass(frozen=True, slots=True)
class Codes:
    """The GS1 codes an event names: serialised items, every GTIN, every SSCC."""

    serials: tuple[tuple[str, str], ...] = ()
    gtins: tuple[str, ...] = ()
    ssccs: tuple[str, ...] = ()


def codes_of_uris(uris: Iterable[str]) -> Codes:
    """The GTINs, serials and SSCCs among identifiers (EPC URNs or Digital Links)."""
    serials: dict[tuple[str, str], None] = {}
    gtins: dict[str, None] = {}
    ssccs: dict[str, None] = {}
    for uri in uris:
        canonical = canonical_digital_link(uri)
        if canonical is None:
            continue
        if (item := _SGTIN.match(canonical)) is not None:
            serials[(item.group(1), item.group(2))] = None
        if (trade_item := _GTIN.match(canonical)) is not None:
            gtins[trade_item.group(1)] = None
        elif (unit := _SSCC.match(canonical)) is not None:
            ssccs[unit.group(1)] = None
    return Codes(tuple(serials), tuple(gtins), tuple(ssccs))


def offline_block_id(line_id: str, gtin: str) -> str:
    """The id of the block holding the serials of ``gtin`` that ``line_id`` drew itself.

    >>> offline_block_id("L1", "08934567890120")[:8]
    'offline-'
    """
    digest = hashlib.sha256(f"{line_id}\x00{gtin}".encode()).hexdigest()[:32]
    return f"{OFFLINE_BLOCK_PREFIX}{digest}"


@dataclass(frozen=True, slots=True)
class Reporter:
    """Who reports events: a line over MQTT or a user over HTTP.

    ``organisation_id`` None with ``province_wide``: an administrator (or an open capture
    interface), who may report codes of any organisation. A line names ``line_id`` and
    the size of its declared offline reserve.
    """

    name: str
    organisation_id: int | None
    line_id: str | None = None
    offline_reserve: int = 0
    province_wide: bool = False


@dataclass
class EventRights:
    """The ownership facts a batch of events needs, loaded in a few queries, and the
    offline serials its commissioning events claim.

    Check events in order with :meth:`check`; then :meth:`record_claims` (in the same
    transaction as the events) records the offline serials the accepted events claimed.
    """

    session: Session
    events: Sequence[IndexedEvent]
    _codes: dict[str, Codes] = field(init=False, default_factory=dict)
    _gtin_owner: dict[str, int | None] = field(init=False, default_factory=dict)
    _sscc_owner: dict[str, int | None] = field(init=False, default_factory=dict)
    _issued_to: dict[tuple[str, str], str] = field(init=False, default_factory=dict)
    _offline_used: dict[str, int] = field(init=False, default_factory=dict)
    _claims: dict[tuple[str, str], list[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._codes = {e.event_id: codes_of_uris(item.epc for item in e.epcs) for e in self.events}
        gtins = {g for codes in self._codes.values() for g in codes.gtins}
        ssccs = {s for codes in self._codes.values() for s in codes.ssccs}
        pairs = {p for codes in self._codes.values() for p in codes.serials}
        prefixes = self._prefixes({g[1:] for g in gtins} | {s[1:] for s in ssccs})
        products = self._product_owners(gtins)
        for gtin in gtins:
            owner = products.get(gtin)
            self._gtin_owner[gtin] = owner if owner is not None else _longest(prefixes, gtin[1:])
        for sscc in ssccs:
            self._sscc_owner[sscc] = _longest(prefixes, sscc[1:])
        self._issued_to = self._issued(pairs)

    # ------------------------------------------------------------------ loading

    def _prefixes(self, digit_strings: set[str]) -> dict[str, int]:
        candidates = {d[:n] for d in digit_strings for n in range(4, 13) if len(d) >= n}
        if not candidates:
            return {}
        rows = self.session.connection().execute(_PREFIX_OWNERS, {"prefixes": sorted(candidates)})
        return {prefix: int(owner) for prefix, owner in rows}

    def _product_owners(self, gtins: set[str]) -> dict[str, int]:
        if not gtins:
            return {}
        rows = self.session.connection().execute(_PRODUCT_OWNERS, {"gtins": sorted(gtins)})
        return {gtin: int(owner) for gtin, owner in rows}

    def _issued(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        if not pairs:
            return {}
        ordered = sorted(pairs)
        if self.session.get_bind().dialect.name == "postgresql":
            gtins, serials = (list(column) for column in zip(*ordered, strict=True))
            issued = self.session.connection().exec_driver_sql(
                _PG_ISSUED, {"gtin": gtins, "serial": serials}
            )
            return {(gtin, serial): line for gtin, serial, line in issued}
        found: dict[tuple[str, str], str] = {}
        connection = self.session.connection()
        for start in range(0, len(ordered), 500):
            rows = connection.execute(_ISSUED, {"pairs": ordered[start : start + 500]})
            found.update({(gtin, serial): line for gtin, serial, line in rows})
        return found

    def _offline_in_use(self, line_id: str) -> int:
        if line_id not in self._offline_used:
            used = self.session.connection().scalar(_OFFLINE_USED, {"line_id": line_id})
            self._offline_used[line_id] = int(used or 0)
        return self._offline_used[line_id]

    # ------------------------------------------------------------------ checking

    def owner_of(self, event: IndexedEvent) -> int | None:
        """The organisation that owns every code of ``event``, when they share one."""
        codes = self._codes.get(event.event_id) or Codes()
        owners = {self._gtin_owner.get(g) for g in codes.gtins}
        owners |= {self._sscc_owner.get(s) for s in codes.ssccs}
        return owners.pop() if len(owners) == 1 else None

    def check(self, reporter: Reporter, event: IndexedEvent) -> str | None:
        """Why ``reporter`` may not report ``event``, or None when it may.

        An accepted event of a line claims the serials it names that no one was issued,
        from the line's offline reserve.
        """
        codes = self._codes.get(event.event_id) or Codes()
        if not reporter.province_wide:
            foreign = self._foreign_code(reporter, codes)
            if foreign is not None:
                return foreign
        if reporter.line_id is None:
            return None
        return self._check_serials(reporter, reporter.line_id, event, codes)

    def _foreign_code(self, reporter: Reporter, codes: Codes) -> str | None:
        org = reporter.organisation_id
        if org is None and (codes.gtins or codes.ssccs):
            return f"{reporter.name} belongs to no organisation and may report no codes"
        for gtin in codes.gtins:
            if self._gtin_owner.get(gtin) != org:
                return f"GTIN {gtin} does not belong to the organisation of {reporter.name}"
        for sscc in codes.ssccs:
            if self._sscc_owner.get(sscc) != org:
                return f"SSCC {sscc} does not belong to the organisation of {reporter.name}"
        return None

    def _check_serials(
        self, reporter: Reporter, line_id: str, event: IndexedEvent, codes: Codes
    ) -> str | None:
        unissued: list[tuple[str, str]] = []
        for pair in codes.serials:
            holder = self._issued_to.get(pair)
            if holder is None:
                unissued.append(pair)
            elif holder != line_id:
                return f"serial {pair[1]} of GTIN {pair[0]} was not issued to {reporter.name}"
        if not unissued:
            return None
        gtin, serial = unissued[0]
        used = self._offline_in_use(line_id)
        if used + len(unissued) > reporter.offline_reserve:
            return (
                f"serial {serial} of GTIN {gtin} was not issued to {reporter.name}, and its "
                f"offline reserve ({reporter.offline_reserve} serials, {used} used) is spent"
            )
        self._offline_used[line_id] = used + len(unissued)
        for pair in unissued:
            self._issued_to[pair] = line_id
            self._claims.setdefault((line_id, pair[0]), []).append(pair[1])
        return None

    def record_claims(self) -> int:
        """Record the offline serials accepted events claimed as issued to their lines;
        returns how many.

        Another ingestor may claim the same serial at the same moment: for the same line
        that is harmless (the insert skips it); for another line :class:`ClaimConflict`
        is raised, the batch rolls back, and the ingestor checks its messages again one
        by one, when the other claim is visible and refuses the event.
        """
        recorded = 0
        connection = self.session.connection()
        for (line_id, gtin), serials in self._claims.items():
            block_id = offline_block_id(line_id, gtin)
            block = {"id": block_id, "gtin": gtin, "line_id": line_id, "count": 0,
                     "issued_at": utcnow()}  # fmt: skip
            connection.execute(_NEW_BLOCK[connection.dialect.name], block)
            claimed = self._insert_claims(block_id, gtin, serials)
            # A serial not inserted was claimed meanwhile by another transaction: by
            # another ingestor of this line (harmless), or by another line (a conflict).
            missing = [serial for serial in serials if serial not in claimed]
            if missing:
                elsewhere = connection.scalar(
                    _CLAIMED_ELSEWHERE, {"gtin": gtin, "serials": missing, "line_id": line_id}
                )
                if elsewhere is not None:
                    raise ClaimConflict(
                        f"serial {elsewhere} of GTIN {gtin} was just claimed by another line"
                    )
            if claimed:
                connection.execute(_COUNT_CLAIMED, {"block_id": block_id, "claimed": len(claimed)})
            recorded += len(serials)
        self._claims.clear()
        return recorded

    def _insert_claims(self, block_id: str, gtin: str, serials: list[str]) -> set[str]:
        """Insert the serials not issued yet into ``block_id``; returns those inserted."""
        if self.session.get_bind().dialect.name == "postgresql":
            inserted = self.session.connection().exec_driver_sql(
                _PG_CLAIM, {"gtin": gtin, "serial": serials, "block_id": block_id}
            )
            return {serial for (serial,) in inserted}
        rows = [{"gtin": gtin, "serial": serial, "block_id": block_id} for serial in serials]
        returned = self.session.connection().execute(_SQLITE_CLAIM, rows)
        return {serial for (serial,) in returned}


class ClaimConflict(Exception):
    """Two lines claimed the same serial at once; the batch must be checked again."""


def _longest(prefixes: dict[str, int], digits: str) -> int | None:
    for length in range(min(12, len(digits)), 3, -1):
        owner = prefixes.get(digits[:length])
        if owner is not None:
            return owner
    return None
