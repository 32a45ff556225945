"""``GS1-EPC-Format`` on output: EPCs written as GS1 Digital Links or as EPC URNs.

``Always_GS1_Digital_Link`` writes every EPC URN as its canonical Digital Link;
``Always_EPC_URN`` writes Digital Links of units, cases and lots (SGTIN, SSCC, LGTIN)
as URNs when the company prefix is known (the GS1 company prefixes of the organisations
registered on the server: a URN needs the prefix's length, which a Digital Link does
not carry), and leaves the others as they are; ``Never_Translates`` and
``No_Preference`` give the events as they were captured.

>>> event = {"epcList": ["https://id.gs1.org/01/08934567890120/21/A1"]}
>>> translate_event(event, "Always_EPC_URN", ["8934567"])["epcList"]
['urn:epc:id:sgtin:8934567.089012.A1']
>>> translate_event({"parentID": "urn:epc:id:sscc:4012345.0000000333"},
...                 "Always_GS1_Digital_Link", [])["parentID"]
'https://id.gs1.org/00/040123450000003338'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lineside.epcis.identifiers import canonical_digital_link, epc_urn
from server.db.models import Organisation
from server.errors import QueryParameterException

__all__ = ["EPC_FORMATS", "company_prefixes", "translate_document", "translate_event"]

EPC_FORMATS = ("No_Preference", "Always_GS1_Digital_Link", "Always_EPC_URN", "Never_Translates")

_EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_KEY = re.compile(r"^https?://[^/]+(?:/.*)?/(01|00)/(\d{14}|\d{18})(?:/|$)")


def check_epc_format(value: str | None) -> str:
    """The format a ``GS1-EPC-Format`` header asks for (``No_Preference`` when absent)."""
    if value is None or not value.strip():
        return "No_Preference"
    if value.strip() not in EPC_FORMATS:
        raise QueryParameterException(
            f"GS1-EPC-Format {value!r:.60} is not one of {', '.join(EPC_FORMATS)}"
        )
    return value.strip()


def company_prefixes(session: Session) -> list[str]:
    """The GS1 company prefixes known to the server, longest first."""
    found = session.scalars(
        select(Organisation.gs1_company_prefix).where(Organisation.gs1_company_prefix.is_not(None))
    )
    return sorted({p for p in found if p and p.isdigit()}, key=len, reverse=True)


def _as_urn(value: str, prefixes: Sequence[str]) -> str:
    match = _KEY.match(value)
    if match is None:
        return value
    key = match[2]
    for prefix in prefixes:
        if key[1 : 1 + len(prefix)] == prefix:
            return epc_urn(value, len(prefix)) or value
    return value


def _as_link(value: str) -> str:
    if not value.startswith("urn:epc:"):
        return value
    return canonical_digital_link(value) or value


def translate_event(
    event: dict[str, Any], epc_format: str, prefixes: Sequence[str]
) -> dict[str, Any]:
    """A copy of ``event`` with its EPCs and EPC classes written in ``epc_format``."""
    convert: Callable[[str], str]
    if epc_format == "Always_EPC_URN":
        convert = lambda value: _as_urn(value, prefixes)  # noqa: E731
    elif epc_format == "Always_GS1_Digital_Link":
        convert = _as_link
    else:
        return event
    out = dict(event)
    for key in _EPC_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [convert(v) if isinstance(v, str) else v for v in out[key]]
    if isinstance(out.get("parentID"), str):
        out["parentID"] = convert(out["parentID"])
    for key in _QUANTITY_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [
                {**q, "epcClass": convert(q["epcClass"])}
                if isinstance(q, dict) and isinstance(q.get("epcClass"), str)
                else q
                for q in out[key]
            ]
    return out


def translate_document(
    document: dict[str, Any], epc_format: str, prefixes: Sequence[str]
) -> dict[str, Any]:
    """An ``EPCISQueryDocument`` with every event's EPCs written in ``epc_format``."""
    if epc_format not in ("Always_EPC_URN", "Always_GS1_Digital_Link"):
        return document
    results = document["epcisBody"]["queryResults"]
    events = results["resultsBody"]["eventList"]
    translated = [translate_event(event, epc_format, prefixes) for event in events]
    return {
        **document,
        "epcisBody": {
            **document["epcisBody"],
            "queryResults": {**results, "resultsBody": {"eventList": translated}},
        },
    }
