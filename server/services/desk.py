"""The desk's live figures: lines, work orders, alarms, recalls, clone alerts, dead letters,
the OCOP overview and the portal connector, in Vietnamese words and honest numbers.

A line's rate is measured from the units it commissioned in the last minutes, and only
while it runs: an idle line shows no rate.

>>> explain_dead_letter("unknown line 'L9'").fix.startswith("Đăng ký dây chuyền")
True
>>> LINE_STATE_LABELS["running"]
'Đang chạy'
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import (
    AlarmRecord,
    ConsumerScan,
    DeadLetter,
    Event,
    Line,
    OutboxState,
    PortalOutboxEntry,
    Product,
    Recall,
    ReconciliationRecord,
    StatusReport,
    WorkOrder,
)
from server.services.dashboard import OCOP_GROUP_LABELS
from server.services.resolver import CLONE_WARNING_DEVICES
from server.services.tenancy import PROVINCE, Scope, scoped

#: A line whose status is older than this is shown as silent.
STALE_AFTER: Final = timedelta(minutes=2)
#: The window over which a running line's rate is measured.
RATE_WINDOW: Final = timedelta(minutes=5)
#: Certificates that end within this many days are flagged on the OCOP overview.
CERTIFICATE_WARNING_DAYS: Final = 90

LINE_STATE_LABELS: Final[Mapping[str, str]] = {
    "online": "Sẵn sàng",
    "running": "Đang chạy",
    "paused": "Tạm dừng",
    "stopping": "Đang dừng",
    "offline": "Mất kết nối",
    "unknown": "Chưa có tin",
    "silent": "Không có tin",
}
WORK_ORDER_STATE_LABELS: Final[Mapping[str, str]] = {
    "draft": "Nháp",
    "released": "Đã nạp",
    "running": "Đang chạy",
    "paused": "Tạm dừng",
    "closed": "Đã đóng",
    "cancelled": "Đã hủy",
}
ALARM_LABELS: Final[Mapping[str, str]] = {
    "paper_out": "Máy in hết giấy",
    "ribbon_out": "Máy in hết ruy băng",
    "head_open": "Đầu in đang mở",
    "printer_paused": "Máy in tạm dừng",
    "printer_offline": "Mất kết nối máy in",
    "scanner_offline": "Mất kết nối máy quét",
    "scanner_silent": "Máy quét không đọc được mã",
    "too_many_rejects": "Quá nhiều sản phẩm bị loại",
    "serials_low": "Sắp hết số sê-ri",
    "outbox_nearly_full": "Hàng đợi gửi sắp đầy",
    "outbox_full": "Hàng đợi gửi đã đầy",
    "broker_unreachable": "Không kết nối được máy chủ tin nhắn",
    "selftest_failed": "Tự kiểm tra thiết bị không đạt",
}
SEVERITY_LABELS: Final[Mapping[str, str]] = {
    "info": "Thông tin",
    "warning": "Cảnh báo",
    "critical": "Nghiêm trọng",
}


# --------------------------------------------------------------------------- dead letters


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a dead letter means and what to do before replaying it."""

    meaning: str
    fix: str


_EXPLANATIONS: Final[tuple[tuple[str, Explanation], ...]] = (
    (
        "unknown line",
        Explanation(
            "Dây chuyền gửi tin chưa được đăng ký trên máy chủ.",
            "Đăng ký dây chuyền (Dữ liệu gốc → Dây chuyền) rồi bấm Gửi lại.",
        ),
    ),
    (
        "belongs to site",
        Explanation(
            "Tin gửi lên ghi sai mã nhà máy (site) của dây chuyền.",
            "Sửa mã site trong cấu hình máy trạm hoặc của dây chuyền, rồi bấm Gửi lại.",
        ),
    ),
    (
        "is not registered to line",
        Explanation(
            "Thiết bị gửi tin chưa được đăng ký cho dây chuyền này.",
            "Đăng ký thiết bị cho dây chuyền (Dữ liệu gốc → Thiết bị) rồi bấm Gửi lại.",
        ),
    ),
    (
        "invalid EPCIS event",
        Explanation(
            "Sự kiện truy xuất không đúng chuẩn EPCIS 2.0.",
            "Cập nhật phần mềm hoặc mẫu nhãn của máy trạm; gửi lại nếu máy chủ đã được sửa.",
        ),
    ),
    (
        "contract:",
        Explanation(
            "Tin nhắn không đúng định dạng hai bên đã thống nhất (phiên bản khác nhau?).",
            "Cập nhật máy trạm và máy chủ cùng phiên bản rồi bấm Gửi lại.",
        ),
    ),
    (
        "exceeds",
        Explanation(
            "Tin nhắn quá lớn.",
            "Giảm kích thước lô gửi trong cấu hình máy trạm; tin này không gửi lại được.",
        ),
    ),
    (
        "database refused",
        Explanation(
            "Cơ sở dữ liệu từ chối dữ liệu (ví dụ: giá trị quá dài).",
            "Báo kỹ thuật viên kiểm tra dữ liệu; gửi lại sau khi sửa.",
        ),
    ),
    (
        "internal error",
        Explanation(
            "Máy chủ gặp lỗi khi lưu tin này.",
            "Báo kỹ thuật viên xem nhật ký máy chủ; gửi lại sau khi cập nhật.",
        ),
    ),
)


def explain_dead_letter(reason: str) -> Explanation:
    """The Vietnamese meaning of a dead letter's (English, technical) reason."""
    for marker, explanation in _EXPLANATIONS:
        if marker in reason:
            return explanation
    return Explanation("Máy chủ không lưu được tin nhắn này.", "Báo kỹ thuật viên kiểm tra.")


def dead_letters(
    session: Session, limit: int = 20, scope: Scope = PROVINCE
) -> list[tuple[DeadLetter, Explanation]]:
    """The newest dead letters within ``scope``, with their explanations."""
    query = scoped(select(DeadLetter), DeadLetter, scope).order_by(DeadLetter.id.desc())
    letters = session.scalars(query.limit(limit))
    return [(letter, explain_dead_letter(letter.reason)) for letter in letters]


def source_of(topic: str) -> str:
    """Which line (and site) a message came from, read from its topic.

    >>> source_of("lineside/v1/factory-2/L7/status"), source_of("odd")
    ('L7 · factory-2', 'odd')
    """
    parts = topic.split("/")
    return f"{parts[3]} · {parts[2]}" if len(parts) >= 4 else topic


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class LineRow:
    """One line as the desk shows it."""

    id: str
    name: str
    site: str
    state: str
    work_order: str
    commissioned: int | None
    rejected: int | None
    rate_per_minute: float | None
    updated_at: datetime | None
    #: The line's rolling print-quality grade (A-F), from its status.
    print_grade: str | None = None

    @property
    def state_label(self) -> str:
        """The state in Vietnamese."""
        return LINE_STATE_LABELS.get(self.state, self.state)


@dataclass(frozen=True, slots=True)
class CloneAlert:
    """A serialised code viewed by more consumer devices than a genuine unit would be."""

    gtin: str
    serial: str
    product: str
    devices: int
    places: int
    last_scan: datetime


@dataclass(frozen=True, slots=True)
class OcopRow:
    """OCOP products of one group: how many of each star rating, certificates to renew."""

    group: str
    label: str
    stars: Mapping[int, int]
    products: int
    expiring: int
    expired: int


@dataclass(frozen=True, slots=True)
class Overview:
    """Everything the desk shows, read at ``generated_at``."""

    lines: list[LineRow]
    throughput: dict[str, list[tuple[str, float]]]
    work_orders: list[tuple[WorkOrder, ReconciliationRecord | None]]
    alarms: list[AlarmRecord]
    recalls: list[tuple[Recall, str]]
    clones: list[CloneAlert]
    dead_letters: list[tuple[DeadLetter, Explanation]]
    dead_total: int
    ocop: list[OcopRow]
    portal: Mapping[str, Any]
    scans_total: int
    generated_at: datetime


def _line_rows(session: Session, now: datetime, scope: Scope) -> list[LineRow]:
    statuses = {
        report.line_id: (report.payload, report.received_at)
        for report in session.scalars(
            scoped(select(StatusReport), StatusReport, scope).where(
                StatusReport.device_id.is_(None)
            )
        )
    }
    recent = dict(
        session.execute(
            scoped(select(Event.line_id, func.count()), Event, scope)
            .where(Event.event_time >= now - RATE_WINDOW, Event.biz_step.like("%commissioning"))
            .group_by(Event.line_id)
        ).all()
    )
    rows = []
    for line in session.scalars(scoped(select(Line), Line, scope).order_by(Line.id)):
        payload, received = statuses.get(line.id, ({}, None))
        state = str(payload.get("state") or "unknown")
        if received is not None and state != "offline" and now - received > STALE_AFTER:
            state = "silent"
        counters = payload.get("counters") or {}
        rate = None
        if state == "running":
            rate = round(int(recent.get(line.id, 0)) / (RATE_WINDOW.total_seconds() / 60), 1)
        rows.append(
            LineRow(
                id=line.id,
                name=line.name,
                site=line.site,
                state=state,
                work_order=str(payload.get("work_order") or ""),
                commissioned=counters.get("commissioned"),
                rejected=counters.get("rejected"),
                rate_per_minute=rate,
                updated_at=received,
                print_grade=payload.get("print_grade"),
            )
        )
    return rows


def throughput(
    session: Session, now: datetime, zone: tzinfo, hours: int = 24, scope: Scope = PROVINCE
) -> dict[str, list[tuple[str, float]]]:
    """Units commissioned per line per hour over the last ``hours`` hours, labelled with
    the local hour."""
    current = now.replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=hours - 1)
    slots = [start + timedelta(hours=i) for i in range(hours)]
    per_line: dict[str, dict[datetime, int]] = {}
    query = scoped(select(Event.line_id, Event.event_time), Event, scope).where(
        Event.event_time >= start, Event.biz_step.like("%commissioning")
    )
    for line_id, event_time in session.execute(query.execution_options(yield_per=1000)):
        hour = event_time.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        counts = per_line.setdefault(line_id or "-", {})
        counts[hour] = counts.get(hour, 0) + 1
    return {
        line: [(f"{slot.astimezone(zone):%H}h", float(counts.get(slot, 0))) for slot in slots]
        for line, counts in sorted(per_line.items())
    }


def clone_alerts(
    session: Session, since: datetime, limit: int = 20, scope: Scope = PROVINCE
) -> list[CloneAlert]:
    """Serials viewed by more than :data:`CLONE_WARNING_DEVICES` distinct consumer devices
    since ``since`` (the consumer page's own measure; repeated views by one device and
    machine lookups do not count)."""
    devices = func.count(func.distinct(ConsumerScan.device_key))
    query = (
        select(
            ConsumerScan.gtin,
            ConsumerScan.serial,
            devices,
            func.count(func.distinct(ConsumerScan.network_key)),
            func.max(ConsumerScan.scanned_at),
        )
        .where(
            ConsumerScan.scanned_at >= since,
            ConsumerScan.serial.is_not(None),
            ConsumerScan.device_key != "",
            ConsumerScan.gtin.in_(scoped(select(Product.gtin), Product, scope)),
        )
        .group_by(ConsumerScan.gtin, ConsumerScan.serial)
        .having(devices > CLONE_WARNING_DEVICES)
        .order_by(devices.desc())
        .limit(limit)
    )
    found = session.execute(query).all()
    names = dict(
        session.execute(
            select(Product.gtin, Product.name_vi).where(Product.gtin.in_({r[0] for r in found}))
        ).all()
    )
    return [
        CloneAlert(gtin, serial or "", names.get(gtin, ""), int(devices), int(places), last)
        for gtin, serial, devices, places, last in found
    ]


def ocop_overview(session: Session, today: date, scope: Scope = PROVINCE) -> list[OcopRow]:
    """OCOP products per group: counts per star rating, certificates expiring or expired."""
    soon = today + timedelta(days=CERTIFICATE_WARNING_DAYS)
    groups: dict[str, dict[str, Any]] = {}
    query = scoped(select(Product), Product, scope).where(Product.ocop_group.is_not(None))
    query = query.order_by(Product.id)
    for product in session.scalars(query):
        group = str(product.ocop_group.value if product.ocop_group else "")
        entry = groups.setdefault(
            group, {"stars": dict.fromkeys(range(1, 6), 0), "products": 0, "soon": 0, "gone": 0}
        )
        entry["products"] += 1
        if product.ocop_stars:
            entry["stars"][product.ocop_stars] += 1
        until = product.certificate_valid_until
        if until is not None and until < today:
            entry["gone"] += 1
        elif until is not None and until <= soon:
            entry["soon"] += 1
    return [
        OcopRow(
            group,
            OCOP_GROUP_LABELS.get(group, group),
            e["stars"],
            e["products"],
            e["soon"],
            e["gone"],
        )
        for group, e in sorted(groups.items())
    ]


def _portal(session: Session) -> dict[str, Any]:
    outbox = dict(
        session.execute(
            select(PortalOutboxEntry.state, func.count()).group_by(PortalOutboxEntry.state)
        ).all()
    )
    last_error = session.scalar(
        select(PortalOutboxEntry.last_error)
        .where(PortalOutboxEntry.last_error != "")
        .order_by(PortalOutboxEntry.next_attempt_at.desc())
        .limit(1)
    )
    return {
        "pending": int(outbox.get(OutboxState.PENDING, 0)),
        "failed": int(outbox.get(OutboxState.FAILED, 0)),
        "sent": int(outbox.get(OutboxState.SENT, 0)),
        "last_sent": session.scalar(select(func.max(PortalOutboxEntry.sent_at))),
        "last_error": last_error or "",
    }


def _work_orders(
    session: Session, scope: Scope, limit: int = 20
) -> list[tuple[WorkOrder, ReconciliationRecord | None]]:
    query = scoped(select(WorkOrder), WorkOrder, scope).order_by(WorkOrder.id.desc())
    orders = list(session.scalars(query.limit(limit)))
    reports = {
        (r.line_id, r.work_order): r
        for r in session.scalars(
            select(ReconciliationRecord).where(
                ReconciliationRecord.work_order.in_({o.code for o in orders})
            )
        )
    }
    return [(order, reports.get((order.line_id, order.code))) for order in orders]


def _recalls(session: Session, scope: Scope) -> list[tuple[Recall, str]]:
    query = (
        scoped(select(Recall, Product.name_vi), Recall, scope)
        .outerjoin(Product, Product.gtin == Recall.gtin)
        .where(Recall.lifted_at.is_(None))
        .order_by(Recall.issued_at.desc())
        .limit(50)
    )
    return [(recall, name or "") for recall, name in session.execute(query).all()]


def overview(
    session: Session, zone: tzinfo, now: datetime | None = None, scope: Scope = PROVINCE
) -> Overview:
    """The desk's figures, read now (a business user's: its organisation's lines, orders,
    alarms, recalls, copied codes, dead letters and products; the portal outbox and the
    scan total stay province-wide counts)."""
    now = now or datetime.now(UTC)
    alarms = session.scalars(
        scoped(select(AlarmRecord), AlarmRecord, scope)
        .where(AlarmRecord.cleared.is_(False))
        .order_by(AlarmRecord.raised_at.desc())
        .limit(50)
    )
    dead_count = scoped(select(func.count()).select_from(DeadLetter), DeadLetter, scope)
    return Overview(
        lines=_line_rows(session, now, scope),
        throughput=throughput(session, now, zone, scope=scope),
        work_orders=_work_orders(session, scope),
        alarms=list(alarms),
        recalls=_recalls(session, scope),
        clones=clone_alerts(session, now - timedelta(days=30), scope=scope),
        dead_letters=dead_letters(session, scope=scope),
        dead_total=int(session.scalar(dead_count) or 0),
        ocop=ocop_overview(session, now.astimezone(zone).date(), scope),
        portal=_portal(session),
        scans_total=int(session.scalar(select(func.count()).select_from(ConsumerScan)) or 0),
        generated_at=now,
    )


def fingerprint(session: Session) -> str:
    """A short digest that changes whenever something the desk shows changes (the live
    page reloads its figures when it does)."""
    marks = [
        session.scalar(select(func.max(StatusReport.received_at))),
        session.scalar(select(func.max(AlarmRecord.id))),
        session.scalar(select(func.count()).select_from(DeadLetter)),
        session.scalar(select(func.max(DeadLetter.id))),
        session.scalar(select(func.max(Recall.id))),
        session.scalar(select(func.count()).where(Recall.lifted_at.is_not(None))),
        session.scalar(select(func.max(Event.pk))),
        session.scalar(select(func.max(ConsumerScan.id))),
        session.scalar(select(func.max(WorkOrder.id))),
        session.scalar(select(func.max(ReconciliationRecord.id))),
    ]
    return hashlib.sha256(repr(marks).encode()).hexdigest()[:16]
