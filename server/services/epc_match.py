"""EPC matching that does not depend on the form an identifier was written in.

Events name the same unit as an EPC URN (``urn:epc:id:sgtin:...``) or as a GS1 Digital
Link URI on any host, and the store keeps each identifier as the event wrote it. A query
value is therefore widened to every form the store may hold for it: its canonical Digital
Link, the same path on each Digital Link host this server knows, and the EPC URN for
each possible company-prefix length (the URN carries the prefix length, the Digital Link
does not). An EPC pattern (``urn:epc:idpat:sgtin:0614141.112345.*``) becomes ``LIKE``
prefixes over the same forms.

>>> sorted(exact_forms("urn:epc:id:sscc:0614141.1234567890", ["https://id.gs1.org"]))[:2]
['https://id.gs1.org/00/106141412345678908', 'urn:epc:id:sscc:061414.11234567890']
"""

from __future__ import annotations

from collections.abc import Sequence

from lineside.epcis.identifiers import canonical_digital_link, epc_urn
from lineside.gs1 import GS1_RESOLVER_ROOT

__all__ = ["exact_forms", "is_pattern", "pattern_prefixes"]

#: The lengths a GS1 company prefix can have, so the lengths an EPC URN may split at.
_PREFIX_LENGTHS = range(6, 13)


def is_pattern(value: str) -> bool:
    """Whether ``value`` is an EPC pattern URI (matched as a set, not one identifier)."""
    return value.startswith("urn:epc:idpat:")


def _paths(canonical: str) -> str:
    return canonical[len(GS1_RESOLVER_ROOT) :]


def exact_forms(value: str, domains: Sequence[str]) -> set[str]:
    """Every stored form of the identifier ``value``: itself, its Digital Link on each
    of ``domains`` and its EPC URNs. An unknown scheme matches only itself."""
    forms = {value}
    canonical = canonical_digital_link(value)
    if canonical is None:
        return forms
    path = _paths(canonical)
    forms.update(domain + path for domain in (GS1_RESOLVER_ROOT, *domains))
    for length in _PREFIX_LENGTHS:
        urn = epc_urn(canonical, length)
        if urn is not None:
            forms.add(urn)
    return forms


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pattern_prefixes(pattern: str, domains: Sequence[str]) -> set[str]:
    """``LIKE`` patterns (escape character ``\\``) matching every instance of an SGTIN
    class pattern ``urn:epc:idpat:sgtin:P.I.*`` in every stored form: serials
    (``/21/``), lots (``/10/``) and EPC URNs. Other patterns match nothing.

    >>> sorted(pattern_prefixes("urn:epc:idpat:sgtin:0614141.112345.*", []))[0]
    'https://id.gs1.org/01/10614141123459/10/%'
    """
    canonical = canonical_digital_link(pattern)
    if canonical is None or not canonical.startswith(GS1_RESOLVER_ROOT + "/01/"):
        return set()
    gtin = canonical.rsplit("/", 1)[1]
    found: set[str] = set()
    for domain in (GS1_RESOLVER_ROOT, *domains):
        for qualifier in ("21", "10"):
            found.add(f"{_like_escape(domain)}/01/{gtin}/{qualifier}/%")
    for length in _PREFIX_LENGTHS:
        urn = epc_urn(f"{GS1_RESOLVER_ROOT}/01/{gtin}/21/x", length)
        if urn is not None:
            base = urn.removeprefix("urn:epc:id:sgtin:").rsplit(".", 1)[0]
            found.add(_like_escape(f"urn:epc:id:sgtin:{base}.") + "%")
            found.add(_like_escape(f"urn:epc:class:lgtin:{base}.") + "%")
    return found
