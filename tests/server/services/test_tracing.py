"""Tracing a case by its SSCC: the company prefix comes from the registered organisation,
so events that name the case by its EPC URN are found."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from server.db.models import Containment, Event, EventEpc, Organisation
from server.services.codes import CodeRef, parse_code
from server.services.tracing import trace, with_company_prefix

SSCC = "089345678912345677"
URN = "urn:epc:id:sscc:8934567.0891234567"
UNIT = "https://id.gs1.org/01/08934567890120/21/S1"


def _organisation(session: Session, prefix: str) -> None:
    session.add(Organisation(name=f"HTX {prefix}", gs1_company_prefix=prefix))
    session.flush()


def test_the_longest_registered_prefix_is_chosen(session: Session) -> None:
    ref = parse_code(f"(00){SSCC}")
    assert with_company_prefix(session, ref) == ref
    for prefix in ("893456", "8934567", "8939999"):
        _organisation(session, prefix)
    assert with_company_prefix(session, ref).company_prefix == "8934567"
    stated = CodeRef(sscc=SSCC, company_prefix="893456")
    assert with_company_prefix(session, stated) is stated


def test_a_case_named_by_its_urn_is_traced_from_its_sscc(session: Session) -> None:
    _organisation(session, "8934567")
    event_id = "ni:///sha-256;" + "c" * 64 + "?ver=CBV2.0"
    when = datetime(2026, 3, 1, 9, tzinfo=UTC)
    session.add(
        Event(
            event_id=event_id,
            type="AggregationEvent",
            action="ADD",
            biz_step="https://ref.gs1.org/cbv/BizStep-packing",
            event_time=when,
            document={"type": "AggregationEvent", "parentID": URN, "childEPCs": [UNIT]},
        )
    )
    session.flush()
    session.add(EventEpc(event_id=event_id, epc=URN, role="parent"))
    session.add(Containment(parent_epc=URN, child_epc=UNIT, event_id=event_id, event_time=when))
    session.flush()
    result = trace(session, parse_code(f"https://id.gs1.org/00/{SSCC}"), ["https://id.gs1.org"])
    assert URN in result.identifiers
    assert [event.event_id for event in result.events] == [event_id]
    assert result.children == (UNIT,)
