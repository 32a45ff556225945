"""Only a line's own organisation's codes, only serials issued to it, only true event hashes.

The probe of issue 12: a registered line of no organisation (or of another one) published a
commissioning event for the demo cooperative's GTIN with a made-up event ID, and the
consumer page then said "genuine"; a decommissioning event from it voided a real unit.
Here every such event is refused, dead-lettered with a reason the organisation's users
can read, and changes no code's status.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from lineside.epcis import event_hash
from lineside.epcis.identifiers import gs1_check_digit
from server.app import create_app
from server.db.events import index_event
from server.db.models import (
    DeadLetter,
    Device,
    Event,
    IssuedSerial,
    Line,
    Organisation,
    SerialBlock,
    User,
)
from server.ingest import Ingestor, IngestSettings
from server.ingest.processing import BatchProcessor, InboundMessage
from server.ingest.validation import default_validator
from server.services.auth import Role, issue_token
from server.services.demo import DEMO_GTIN, seed_demo
from server.services.event_rights import ClaimConflict, EventRights, Reporter
from server.settings import ServerSettings
from tests.server.factories import BASE_TIME
from tests.server.ingest.conftest import Publisher, event_message
from tests.support.waiting import wait_until

DOMAIN = "https://id.example.vn"
OTHER_PREFIX = "8930001"
OTHER_GTIN = "08930001000012"


def _unit(serial: str, gtin: str = DEMO_GTIN) -> str:
    return f"https://id.gs1.org/01/{gtin}/21/{serial}"


def _event(
    epcs: list[str], *, action: str = "ADD", biz_step: str = "commissioning", minutes: int = 0
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": (BASE_TIME + timedelta(minutes=minutes)).isoformat(),
        "eventTimeZoneOffset": "+07:00",
        "epcList": epcs,
        "action": action,
        "bizStep": biz_step,
        "disposition": "active" if action == "ADD" else "inactive",
    }
    event["eventID"] = event_hash(event)
    return event


def _made_up_id(event: dict[str, Any]) -> dict[str, Any]:
    fake = hashlib.sha256(b"anything at all").hexdigest()
    return {**event, "eventID": f"ni:///sha-256;{fake}?ver=CBV2.0"}


def _packing(parent: str, children: list[str]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "AggregationEvent",
        "eventTime": BASE_TIME.isoformat(),
        "eventTimeZoneOffset": "+07:00",
        "parentID": parent,
        "childEPCs": children,
        "action": "ADD",
        "bizStep": "packing",
    }
    event["eventID"] = event_hash(event)
    return event


@pytest.fixture
def world(session_factory: sessionmaker[Session], clean_db: object) -> dict[str, Any]:
    """The demo cooperative (its line L1, units DEMO000000..2 commissioned), a line X1
    of no organisation, and a line Y1 of another organisation with an offline reserve."""
    seed_demo(session_factory, "demo-pass-1", units=3)
    with session_factory() as session, session.begin():
        demo_org = session.scalars(select(Line.organisation_id).where(Line.id == "L1")).one()
        other = Organisation(name="HTX Khác", gs1_company_prefix=OTHER_PREFIX)
        session.add(other)
        session.flush()
        session.add_all(
            [
                Line(id="X1", site="evil"),
                Line(id="Y1", site="other", organisation_id=other.id, offline_reserve=100),
                Line(id="L2", site="tan-cuong", organisation_id=demo_org, offline_reserve=100),
            ]
        )
        session.flush()
        session.add_all(
            [
                Device(id="agent-x", line_id="X1"),
                Device(id="agent-y", line_id="Y1"),
                Device(id="agent-1", line_id="L1"),
                Device(id="agent-2", line_id="L2"),
            ]
        )
        session.add(SerialBlock(id="sb-l1", gtin=DEMO_GTIN, line_id="L1", count=1))
        session.flush()
        session.add(IssuedSerial(gtin=DEMO_GTIN, serial="BLOCK1", block_id="sb-l1"))
    return {"demo_org": demo_org, "other_org": other.id}


def _publish(
    session_factory: sessionmaker[Session], site: str, line: str, device: str, *events: Any
) -> None:
    topic = contract.Topics(site, line).events
    processor = BatchProcessor(session_factory, default_validator())
    processor.process(
        [
            InboundMessage(topic, event_message(site, line, seq, event, device=device))
            for seq, event in enumerate(events)
        ]
    )


def _stored(session_factory: sessionmaker[Session], event: dict[str, Any]) -> bool:
    with session_factory() as session:
        found = session.scalar(select(Event.pk).where(Event.event_id == event["eventID"]))
        return found is not None


def _letters(session_factory: sessionmaker[Session]) -> list[DeadLetter]:
    with session_factory() as session:
        return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id)))


@pytest.fixture
def client(session_factory: sessionmaker[Session], db_url: str) -> Iterator[TestClient]:
    settings = ServerSettings(
        database_url=db_url,
        resolver_domain=DOMAIN,
        secret_key="test-salt",
        rate_limit_per_minute=100_000,
        rate_limit_burst=100_000,
        secure_cookies=False,
    )
    with TestClient(create_app(settings, session_factory=session_factory)) as test_client:
        yield test_client


def _status(client: TestClient, serial: str) -> str:
    page = client.get(f"/01/{DEMO_GTIN}/21/{serial}")
    found = re.search(r'data-status="(\w+)"', page.text)
    return found.group(1) if found else f"no page ({page.status_code})"


def _token(session_factory: sessionmaker[Session], role: Role, organisation: int | None) -> str:
    with session_factory() as session, session.begin():
        user = User(
            username=f"{role.value}-{organisation}", role=role, organisation_id=organisation
        )
        session.add(user)
        session.flush()
        return issue_token(session, user, timedelta(hours=1))


def test_the_probe_a_made_up_commissioning_is_refused_and_not_genuine(
    session_factory: sessionmaker[Session], world: dict[str, Any], client: TestClient
) -> None:
    forged = _made_up_id(_event([_unit("FAKE0001")]))
    honest_id = _event([_unit("FAKE0002")])
    _publish(session_factory, "evil", "X1", "agent-x", forged, honest_id)
    assert not _stored(session_factory, forged)
    assert not _stored(session_factory, honest_id)
    reasons = [letter.reason for letter in _letters(session_factory)]
    assert len(reasons) == 2
    assert "is not the event's hash" in reasons[0]
    assert "line 'X1' belongs to no organisation" in reasons[1]
    assert _status(client, "FAKE0001") != "genuine"
    assert _status(client, "FAKE0002") != "genuine"
    assert _status(client, "DEMO000001") == "genuine"


def test_another_organisations_line_cannot_commission_or_void_the_cooperatives_units(
    session_factory: sessionmaker[Session], world: dict[str, Any], client: TestClient
) -> None:
    commission = _event([_unit("FAKE0003")])
    void = _event([_unit("DEMO000001")], action="DELETE", biz_step="decommissioning")
    _publish(session_factory, "other", "Y1", "agent-y", commission, void)
    assert not _stored(session_factory, commission)
    assert not _stored(session_factory, void)
    letters = _letters(session_factory)
    assert [letter.reason for letter in letters] == [
        f"not authorised: GTIN {DEMO_GTIN} does not belong to the organisation of line 'Y1'"
    ] * 2
    assert {(letter.line_id, letter.organisation_id) for letter in letters} == {
        ("Y1", world["other_org"])
    }
    assert _status(client, "DEMO000001") == "genuine"
    assert _status(client, "FAKE0003") != "genuine"


def test_a_line_of_the_same_organisation_cannot_use_another_lines_serials(
    session_factory: sessionmaker[Session], world: dict[str, Any], client: TestClient
) -> None:
    taken = _event([_unit("BLOCK1")])
    _publish(session_factory, "tan-cuong", "L2", "agent-2", taken)
    assert not _stored(session_factory, taken)
    (letter,) = _letters(session_factory)
    assert letter.reason == (
        f"not authorised: serial BLOCK1 of GTIN {DEMO_GTIN} was not issued to line 'L2'"
    )
    _publish(session_factory, "tan-cuong", "L1", "agent-1", taken)
    assert _stored(session_factory, taken)
    assert _status(client, "BLOCK1") == "genuine"


def test_a_line_draws_its_offline_reserve_then_owns_those_serials(
    session_factory: sessionmaker[Session], world: dict[str, Any]
) -> None:
    units = [_unit(f"OFF{n:04d}", OTHER_GTIN) for n in range(3)]
    made = _event(units)
    digits = f"3{OTHER_PREFIX}000000001"
    case = f"https://id.gs1.org/00/{digits}{gs1_check_digit(digits)}"
    packed = _packing(case, units)
    _publish(session_factory, "other", "Y1", "agent-y", made, packed)
    assert _stored(session_factory, made)
    assert _stored(session_factory, packed)
    with session_factory() as session:
        stored = session.scalars(select(Event).where(Event.event_id == made["eventID"])).one()
        assert stored.organisation_id == world["other_org"]
        owners = set(
            session.scalars(
                select(SerialBlock.line_id)
                .join(IssuedSerial, IssuedSerial.block_id == SerialBlock.id)
                .where(IssuedSerial.gtin == OTHER_GTIN)
            )
        )
        assert owners == {"Y1"}
        session.execute(update(Line).where(Line.id == "Y1").values(offline_reserve=3))
        session.commit()
    beyond = _event([_unit("OFF9999", OTHER_GTIN)], minutes=1)
    _publish(session_factory, "other", "Y1", "agent-y", beyond)
    assert not _stored(session_factory, beyond)
    (letter,) = _letters(session_factory)
    assert "offline reserve (3 serials, 3 used) is spent" in letter.reason


def test_each_organisation_reads_its_own_refusals(
    session_factory: sessionmaker[Session], world: dict[str, Any], client: TestClient
) -> None:
    _publish(session_factory, "other", "Y1", "agent-y", _event([_unit("FAKE0004")]))
    theirs = _token(session_factory, Role.OPERATOR, world["other_org"])
    ours = _token(session_factory, Role.TECHNICIAN, world["demo_org"])
    inspector = _token(session_factory, Role.INSPECTOR, None)

    def read(token: str) -> list[dict[str, Any]]:
        answer = client.get("/dead-letters", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        result: list[dict[str, Any]] = answer.json()
        return result

    (seen,) = read(theirs)
    assert seen["line_id"] == "Y1"
    assert "does not belong to the organisation of line 'Y1'" in seen["reason"]
    assert "FAKE0004" in seen["payload"]
    assert read(ours) == []
    assert len(read(inspector)) == 1


def test_capture_of_another_organisations_codes_is_refused_and_dead_lettered(
    session_factory: sessionmaker[Session], world: dict[str, Any], client: TestClient
) -> None:
    event = _event([_unit("DEMO000002")], action="DELETE", biz_step="destroying")
    document: dict[str, Any] = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T01:00:00Z",
        "epcisBody": {"eventList": [event]},
    }
    capturer = _token(session_factory, Role.TECHNICIAN, world["other_org"])
    headers = {"Authorization": f"Bearer {capturer}"}
    refused = client.post("/epcis/capture", json=document, headers=headers)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "epcisException:SecurityException"
    assert f"GTIN {DEMO_GTIN} does not belong" in refused.json()["detail"]
    forged = {
        **document,
        "epcisBody": {"eventList": [_made_up_id(event)]},
    }
    not_hash = client.post("/epcis/capture", json=forged, headers=headers)
    assert not_hash.status_code == 400, not_hash.text
    assert "is not the event's hash" in not_hash.json()["detail"]
    letters = _letters(session_factory)
    assert len(letters) == 2
    assert {letter.organisation_id for letter in letters} == {world["other_org"]}
    assert _status(client, "DEMO000002") == "genuine"
    owner = _token(session_factory, Role.OPERATOR, world["demo_org"])
    accepted = client.post(
        "/epcis/capture", json=document, headers={"Authorization": f"Bearer {owner}"}
    )
    assert accepted.status_code == 202, accepted.text
    assert _status(client, "DEMO000002") == "voided"


@pytest.mark.mqtt
def test_the_probe_over_the_real_broker(
    session_factory: sessionmaker[Session],
    world: dict[str, Any],
    client: TestClient,
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
) -> None:
    with session_factory() as session, session.begin():
        session.add(Line(id="P1", site=site, organisation_id=world["other_org"]))
        session.flush()
        session.add(Device(id="agent-p", line_id="P1"))
    forged = _made_up_id(_event([_unit("FAKE0005")]))
    void = _event([_unit("DEMO000000")], action="DELETE", biz_step="decommissioning")
    topic = contract.Topics(site, "P1").events
    settings = IngestSettings(client_id=client_ids(), sites=(site,), session_expiry_s=120)
    with Ingestor(settings, session_factory, default_validator()) as ingestor:
        publisher.publish_many(
            [
                (topic, event_message(site, "P1", 0, forged, device="agent-p")),
                (topic, event_message(site, "P1", 1, void, device="agent-p")),
            ]
        )
        wait_until(lambda: ingestor.totals.dead_letters == 2)
    assert ingestor.totals.stored == 0
    assert not _stored(session_factory, forged)
    assert not _stored(session_factory, void)
    assert _status(client, "FAKE0005") != "genuine"
    assert _status(client, "DEMO000000") == "genuine"


def test_a_serial_claimed_meanwhile_by_another_line_stops_the_batch(
    session_factory: sessionmaker[Session], world: dict[str, Any]
) -> None:
    contested = _event([_unit("RACE0001")])
    with session_factory() as session, session.begin():
        rights = EventRights(session, [index_event(contested)])
        reporter = Reporter("line 'L2'", world["demo_org"], line_id="L2", offline_reserve=100)
        assert rights.check(reporter, index_event(contested)) is None
        # Another ingestor stores line L1's claim of the same serial first.
        first = {**contested, "ilmd": {"cbvmda:lotNumber": "X"}}
        first["eventID"] = event_hash({k: v for k, v in first.items() if k != "eventID"})
        with session_factory() as other, other.begin():
            l1 = Reporter("line 'L1'", world["demo_org"], line_id="L1", offline_reserve=100)
            winner = EventRights(other, [index_event(first)])
            assert winner.check(l1, index_event(first)) is None
            winner.record_claims()
        with pytest.raises(ClaimConflict, match="RACE0001"):
            rights.record_claims()
        session.rollback()
