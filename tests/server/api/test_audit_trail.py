"""The server's audit trail: what is recorded, how it is read, and tampering detected."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from lineside.audit import AuditRecord, verify_chain
from server.db.models import AuditEntry, User
from server.services.audit import as_record, record_action, verify_stored_chain
from server.services.auth import Role, hash_password
from tests.server.api.conftest import GTIN, auth, build_world


def _records(session_factory: sessionmaker[Session]) -> list[AuditRecord]:
    with session_factory() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        return [as_record(row) for row in rows]


def _actions(session_factory: sessionmaker[Session]) -> list[tuple[str, str, str, str]]:
    return [(r.actor, r.action, r.target, r.reason) for r in _records(session_factory)]


def test_master_data_changes_are_recorded_with_who_and_why(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    admin, tech = auth(tokens[Role.ADMINISTRATOR]), auth(tokens[Role.TECHNICIAN])
    org = client.post("/organisations?reason=new+cooperative", json={"name": "HTX"}, headers=admin)
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    line = client.post("/lines", json={"id": "L9", "site": "f-1"}, headers=tech)
    assert line.status_code == 201, line.text
    patched = client.patch("/lines/L9?reason=renamed", json={"name": "Dây chuyền 9"}, headers=tech)
    assert patched.status_code == 200, patched.text
    no_reason = client.delete("/lines/L9", headers=admin)
    assert no_reason.status_code == 422
    assert "reason" in no_reason.text
    assert client.delete("/lines/L9?reason=dismantled", headers=admin).status_code == 204
    assert _actions(session_factory) == [
        ("user-administrator", "organisation.create", f"organisation:{org_id}", "new cooperative"),
        ("user-technician", "line.create", "line:L9", ""),
        ("user-technician", "line.update", "line:L9", "renamed"),
        ("user-administrator", "line.delete", "line:L9", "dismantled"),
    ]
    records = _records(session_factory)
    assert records[2].details == {"name": "Dây chuyền 9"}
    assert records[0].role == "administrator"
    assert verify_chain(records) == []


def test_a_refused_change_leaves_no_record(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    world = build_world(session_factory)
    refused = client.delete(
        f"/organisations/{world.organisation_id}?reason=duplicate",
        headers=auth(tokens[Role.ADMINISTRATOR]),
    )
    assert refused.status_code == 409  # a product still refers to it
    assert _records(session_factory) == []


def test_production_recall_and_user_actions_are_recorded(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    world = build_world(session_factory)
    operator, tech = auth(tokens[Role.OPERATOR]), auth(tokens[Role.TECHNICIAN])
    inspector, admin = auth(tokens[Role.INSPECTOR]), auth(tokens[Role.ADMINISTRATOR])
    order = client.post(
        "/work-orders",
        json={
            "code": "WO-7",
            "line_id": world.line_id,
            "product_id": world.product_id,
            "lot": "L7",
            "production_date": "2026-11-30",
            "quantity": 100,
        },
        headers=operator,
    )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    started = client.post(
        f"/work-orders/{order_id}/actions?reason=shift+start",
        json={"action": "start"},
        headers=operator,
    )
    assert started.status_code == 200, started.text
    block = client.post(
        f"/lines/{world.line_id}/serial-blocks", json={"gtin": GTIN, "count": 10}, headers=tech
    )
    assert block.status_code == 201, block.text
    recall = client.post(
        "/recalls", json={"gtin": GTIN, "lot": "L7", "reason": "nấm mốc"}, headers=inspector
    )
    assert recall.status_code == 201, recall.text
    recall_id = recall.json()["id"]
    assert client.post(f"/recalls/{recall_id}/lift", headers=inspector).status_code == 422
    lifted = client.post(f"/recalls/{recall_id}/lift?reason=retested+ok", headers=inspector)
    assert lifted.status_code == 200, lifted.text
    user = client.post(
        "/users",
        json={"username": "lan", "password": "long-enough-1", "role": "operator"},
        headers=admin,
    )
    assert user.status_code == 201, user.text
    assert "password" not in user.text
    gone = client.post(f"/users/{user.json()['id']}/deactivate?reason=left", headers=admin)
    assert gone.json()["active"] is False
    assert _actions(session_factory) == [
        ("user-operator", "work_order.create", f"work_order:{order_id}", ""),
        ("user-operator", "work_order.start", f"work_order:{order_id}", "shift start"),
        ("user-technician", "serial_block.issue", f"serial_block:{block.json()['id']}", ""),
        ("user-inspector", "recall.create", f"recall:{recall_id}", "nấm mốc"),
        ("user-inspector", "recall.lift", f"recall:{recall_id}", "retested ok"),
        ("user-administrator", "user.create", "user:lan", ""),
        ("user-administrator", "user.deactivate", "user:lan", "left"),
    ]
    details = _records(session_factory)[2].details
    assert details["count"] == 10
    assert details["line"] == world.line_id


def test_sign_in_success_and_failure_are_recorded(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session, session.begin():
        session.add(User(username="an", role=Role.AUDITOR, password_hash=hash_password("pw-12345")))
    for _ in range(2):
        wrong = client.post("/auth/token", json={"username": "an", "password": "nope"})
        assert wrong.status_code == 401
    right = client.post("/auth/token", json={"username": "an", "password": "pw-12345"})
    assert right.status_code == 200
    # Failures are counted, then written as one record per account and address.
    assert client.app.state.sign_in_desk.flush() == 1  # type: ignore[attr-defined]
    records = _records(session_factory)
    assert [(r.actor, r.role, r.action) for r in records] == [
        ("an", "auditor", "auth.login"),
        ("an", "anonymous", "auth.login_failed"),
    ]
    assert records[1].details["failures"] == 2
    assert records[1].details["via"] == "api"
    # No password is ever recorded.
    assert not any("nope" in r.model_dump_json() for r in records)


def _seed(session_factory: sessionmaker[Session], count: int) -> None:
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    with session_factory() as session, session.begin():
        for i in range(count):
            record_action(
                session,
                actor=f"user-{i % 2}",
                role="operator",
                action="line.update" if i % 2 else "product.update",
                target=f"line:L{i}",
                reason=f"lý do {i}",
                details={"i": i},
                at=start + timedelta(hours=i),
            )


def test_audit_query_filters_and_pages(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    _seed(session_factory, 7)
    headers = auth(tokens[Role.AUDITOR])

    def query(**params: Any) -> dict[str, Any]:
        answer = client.get("/audit", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def seqs(body: dict[str, Any]) -> list[int]:
        return [r["seq"] for r in body["records"]]

    assert seqs(query()) == [7, 6, 5, 4, 3, 2, 1]
    assert seqs(query(actor="user-1")) == [6, 4, 2]
    assert seqs(query(action="line.update")) == [6, 4, 2]
    assert seqs(query(action="product.")) == [7, 5, 3, 1]
    assert seqs(query(target="line:L3")) == [4]
    assert seqs(query(since="2026-11-01T10:00:00Z", until="2026-11-01T12:00:00+00:00")) == [4, 3]
    first = query(limit=3)
    assert (seqs(first), first["next_offset"]) == ([7, 6, 5], 3)
    last = query(limit=3, offset=6)
    assert (seqs(last), last["next_offset"]) == ([1], None)
    naive = client.get("/audit", params={"since": "2026-11-01T10:00:00"}, headers=headers)
    assert naive.status_code == 422
    record = query(target="line:L3")["records"][0]
    assert record["reason"] == "lý do 3"
    assert record["details"] == {"i": 3}


def test_verify_reports_an_intact_chain(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    _seed(session_factory, 5)
    answer = client.get("/audit/verify", headers=auth(tokens[Role.INSPECTOR]))
    assert answer.json() == {"intact": True, "records": 5, "head_seq": 5, "breaks": []}


def test_verify_names_an_edited_and_a_deleted_row(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    _seed(session_factory, 6)
    with session_factory() as session, session.begin():
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(reason="không có gì"))
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 4))
    answer = client.get("/audit/verify", headers=auth(tokens[Role.AUDITOR])).json()
    assert answer["intact"] is False
    assert answer["records"] == 5
    assert answer["breaks"] == [
        "record 2 (line.update by user-1): content does not match its hash",
        "record 5 (product.update by user-0): sequence 4 expected, got 5",
        "record 5 (product.update by user-0): does not follow the previous record's hash",
    ]


def test_verify_notices_records_removed_from_the_end(
    client: TestClient, tokens: dict[Role, str], session_factory: sessionmaker[Session]
) -> None:
    _seed(session_factory, 4)
    with session_factory() as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 3))
    answer = client.get("/audit/verify", headers=auth(tokens[Role.AUDITOR])).json()
    assert answer["breaks"] == [
        "the trail ends at record 2 but its head is record 4: records were removed from the end"
    ]
    # The next record links to the head, so the gap stays visible.
    _seed(session_factory, 1)
    with session_factory() as session:
        assert verify_stored_chain(session).breaks[0] == (
            "record 5 (product.update by user-0): sequence 3 expected, got 5"
        )


def test_stored_records_hash_like_lineside_audit(
    session_factory: sessionmaker[Session], clean_db: object
) -> None:
    _seed(session_factory, 2)
    first, second = _records(session_factory)
    again = AuditRecord.create(
        first,
        at=second.at,
        actor=second.actor,
        role=second.role,
        action=second.action,
        target=second.target,
        reason=second.reason,
        details=second.details,
    )
    assert again == second


def test_long_text_is_cut_not_refused(
    session_factory: sessionmaker[Session], clean_db: object
) -> None:
    with session_factory() as session, session.begin():
        record = record_action(
            session,
            actor="a" * 300,
            role="administrator",
            action="recall.create",
            reason="x" * 5000,
        )
    assert len(record.actor) == 200
    assert record.reason.endswith("…")
    assert len(record.reason) == 2000


@pytest.mark.parametrize("writers", [6])
def test_concurrent_appends_never_fork_the_chain(
    session_factory: sessionmaker[Session], clean_db: object, writers: int
) -> None:
    """Threads append at once, each in its own transaction; the chain stays one line."""
    per_writer = 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                with session_factory() as session, session.begin():
                    record_action(
                        session, actor=f"w{n}", role="operator", action="test", target=f"{i}"
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_factory() as session:
        report = verify_stored_chain(session)
        count = session.scalar(select(func.count()).select_from(AuditEntry))
    assert count == writers * per_writer
    assert report.intact, report.breaks
    assert [r.seq for r in _records(session_factory)] == list(range(1, count + 1))
