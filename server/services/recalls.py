"""Lot recalls: inspectors recall one lot of a GTIN (or all its lots) and lift recalls.

A recall in force turns the verdict of every matching code to ``recalled``
(:func:`server.services.tracing.active_recall`). A recall belongs to the organisation
that owns the GTIN; business users read only their own organisation's recalls.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Product, Recall
from server.services.audit import Actor, audit_action
from server.services.masterdata import prefix_owner
from server.services.tenancy import PROVINCE, Scope, get_scoped, scoped


def list_recalls(
    session: Session, *, active_only: bool, limit: int, scope: Scope = PROVINCE
) -> list[Recall]:
    """Recalls, newest first; only those in force with ``active_only``."""
    query = (
        scoped(select(Recall), Recall, scope)
        .order_by(Recall.issued_at.desc(), Recall.id.desc())
        .limit(limit)
    )
    if active_only:
        query = query.where(Recall.lifted_at.is_(None))
    return list(session.scalars(query))


def create_recall(
    session: Session, actor: Actor, *, gtin: str, lot: str | None, reason: str
) -> Recall:
    """Recall one lot of ``gtin`` (every lot when ``lot`` is None); audited with its reason."""
    owner = session.scalar(select(Product.organisation_id).where(Product.gtin == gtin))
    recall = Recall(
        gtin=gtin,
        organisation_id=owner if owner is not None else prefix_owner(session, gtin[1:]),
        lot=lot,
        reason=reason,
        issued_by=actor.username,
        issued_at=datetime.now(UTC),
    )
    session.add(recall)
    session.flush()
    audit_action(
        session,
        actor,
        "recall.create",
        f"recall:{recall.id}",
        reason=reason,
        details={"gtin": recall.gtin, "lot": recall.lot},
    )
    return recall


def lift_recall(
    session: Session, actor: Actor, recall_id: int, *, reason: str, scope: Scope = PROVINCE
) -> Recall:
    """End a recall (lifting one already lifted changes nothing)."""
    recall = get_scoped(session, Recall, recall_id, scope)
    if recall.lifted_at is None:
        recall.lifted_at = datetime.now(UTC)
        audit_action(
            session,
            actor,
            "recall.lift",
            f"recall:{recall.id}",
            reason=reason,
            details={"gtin": recall.gtin, "lot": recall.lot},
        )
    return recall
