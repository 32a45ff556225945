"""The province's yearly indicators (the desk's live figures are in :mod:`server.services.desk`).

A product "has traceability" in a year when units of it were commissioned that year; a
business has traceability when one of its products has.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import (
    ConsumerScan,
    Event,
    Organisation,
    Product,
)
from server.services.tenancy import PROVINCE, Scope, scoped

# --------------------------------------------------------------------------- indicators


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """One row of the yearly indicators: the total, a commune, an organisation or an OCOP
    product group."""

    dimension: str
    key: str
    businesses: int
    businesses_with_traceability: int
    products: int
    ocop_products_covered: int
    codes_issued: int
    consumer_scans: int


#: The report's groupings, in the order they are printed (districts are gone since the
#: 2025 reform: a province is made of communes and wards).
DIMENSIONS: Final = ("total", "commune", "organisation", "product_group")

#: Vietnamese names of the groupings and of the OCOP product groups.
DIMENSION_LABELS: Final[Mapping[str, str]] = {
    "total": "Toàn tỉnh",
    "commune": "Xã, phường",
    "organisation": "Tổ chức, doanh nghiệp",
    "product_group": "Nhóm sản phẩm OCOP",
}
OCOP_GROUP_LABELS: Final[Mapping[str, str]] = {
    "food": "Thực phẩm",
    "beverages": "Đồ uống",
    "herbs": "Dược liệu và sản phẩm từ dược liệu",
    "medicinal_herbs": "Dược liệu và sản phẩm từ dược liệu",
    "handicrafts": "Thủ công mỹ nghệ",
    "ornamental": "Sinh vật cảnh",
    "community_tourism": "Dịch vụ du lịch cộng đồng",
}
#: Key of a row whose commune (or OCOP group) is not recorded.
UNKNOWN_KEY: Final = "-"


def key_label(dimension: str, key: str) -> str:
    """The Vietnamese label of a row's key.

    >>> key_label("product_group", "food"), key_label("commune", "-"), key_label("total", "all")
    ('Thực phẩm', 'Chưa khai báo', 'Toàn tỉnh')
    >>> key_label("product_group", "-")
    'Không thuộc OCOP'
    """
    if dimension == "total":
        return DIMENSION_LABELS["total"]
    if key == UNKNOWN_KEY:
        return "Không thuộc OCOP" if dimension == "product_group" else "Chưa khai báo"
    if dimension == "product_group":
        return OCOP_GROUP_LABELS.get(key, key)
    return key


def year_bounds(year: int, zone: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The first instant of ``year`` and of the next one, in ``zone``."""
    return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)


def current_year(zone: tzinfo = UTC) -> int:
    """The calendar year now in ``zone``."""
    return datetime.now(zone).year


def organisation_key(org: Organisation) -> str:
    """An organisation's row in the report: its name, with its tax ID when it has one (two
    businesses may share a name)."""
    return f"{org.name} · MST {org.tax_id}" if org.tax_id else org.name


def _row_keys(product: Product, org: Organisation) -> list[tuple[str, str]]:
    return [
        ("total", "all"),
        ("commune", org.commune.strip() or UNKNOWN_KEY),
        ("organisation", organisation_key(org)),
        ("product_group", product.ocop_group.value if product.ocop_group else UNKNOWN_KEY),
    ]


def indicators(
    session: Session, year: int, zone: tzinfo = UTC, scope: Scope = PROVINCE
) -> list[IndicatorRow]:
    """The province's indicators for ``year`` (in ``zone``): the total, per commune, per
    organisation and per OCOP group (a business user's: its own organisation's only).

    A product "has traceability" in a year when units of it were commissioned that year;
    a business has traceability when one of its products has.
    """
    start, end = year_bounds(year, zone)
    commissioned = _codes_per_gtin(session, start, end, scope)
    scans = dict(
        session.execute(
            select(ConsumerScan.gtin, func.count())
            .where(ConsumerScan.scanned_at >= start, ConsumerScan.scanned_at < end)
            .group_by(ConsumerScan.gtin)
        ).all()
    )
    rows = session.execute(
        scoped(
            select(Product, Organisation).join(
                Organisation, Organisation.id == Product.organisation_id
            ),
            Product,
            scope,
        )
    ).all()
    organisations = list(session.scalars(scoped(select(Organisation), Organisation, scope)))
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def bucket(dimension: str, key: str) -> dict[str, Any]:
        return groups.setdefault(
            (dimension, key),
            {"orgs": set(), "traced_orgs": set(), "products": 0, "ocop": 0, "codes": 0, "scans": 0},
        )

    for org in organisations:
        if org.uses_barcodes:
            bucket("total", "all")["orgs"].add(org.id)
            bucket("commune", org.commune.strip() or UNKNOWN_KEY)["orgs"].add(org.id)
            bucket("organisation", organisation_key(org))["orgs"].add(org.id)
    for product, org in rows:
        codes = int(commissioned.get(product.gtin, 0))
        for dimension, key in _row_keys(product, org):
            entry = bucket(dimension, key)
            entry["products"] += 1
            entry["codes"] += codes
            entry["scans"] += int(scans.get(product.gtin, 0))
            if dimension == "product_group":
                entry["orgs"].add(org.id)
            if codes:
                entry["traced_orgs"].add(org.id)
                if product.ocop_group is not None:
                    entry["ocop"] += 1
    order = {name: index for index, name in enumerate(DIMENSIONS)}
    return [
        IndicatorRow(
            dimension=dimension,
            key=key,
            businesses=len(entry["orgs"]),
            businesses_with_traceability=len(entry["traced_orgs"]),
            products=entry["products"],
            ocop_products_covered=entry["ocop"],
            codes_issued=entry["codes"],
            consumer_scans=entry["scans"],
        )
        for (dimension, key), entry in sorted(
            groups.items(), key=lambda i: (order[i[0][0]], i[0][1] == UNKNOWN_KEY, i[0][1])
        )
    ]


def _codes_per_gtin(
    session: Session, start: datetime, end: datetime, scope: Scope = PROVINCE
) -> dict[str, int]:
    """Units commissioned per GTIN in ``[start, end)``, from the EPC index of events."""
    counts: dict[str, int] = {}
    query = (
        scoped(select(Event.document), Event, scope)
        .where(Event.event_time >= start, Event.event_time < end)
        .where(Event.biz_step.like("%commissioning"))
    )
    for document in session.scalars(query.execution_options(yield_per=500)):
        epcs = document.get("epcList", []) if isinstance(document, dict) else []
        for epc in epcs if isinstance(epcs, list) else []:
            gtin = _gtin_of(str(epc))
            if gtin:
                counts[gtin] = counts.get(gtin, 0) + 1
    return counts


def _gtin_of(epc: str) -> str | None:
    marker = "/01/"
    if marker in epc:
        candidate = epc.split(marker, 1)[1][:14]
        return candidate if candidate.isdigit() and len(candidate) == 14 else None
    return None


#: Column headings of the CSV and the printed report, in Vietnamese.
COLUMN_LABELS: Final[Mapping[str, str]] = {
    "businesses": "Số doanh nghiệp dùng mã số mã vạch",
    "businesses_with_traceability": "Số doanh nghiệp có truy xuất nguồn gốc",
    "products": "Số sản phẩm",
    "ocop_products_covered": "Số sản phẩm OCOP có truy xuất",
    "codes_issued": "Số mã đã cấp",
    "consumer_scans": "Lượt quét của người tiêu dùng",
}


def indicators_csv(rows: list[IndicatorRow], year: int) -> str:
    """The indicators as CSV text with Vietnamese headings, one row per grouping and key.

    >>> text = indicators_csv([IndicatorRow("commune", "=1+1", 1, 0, 2, 0, 0, 0)], 2026)
    >>> text.splitlines()[1].endswith(",'=1+1,1,0,2,0,0,0")
    True
    >>> text.splitlines()[0].split(",")[:3]
    ['Năm', 'Nhóm', 'Tên']
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = [field.name for field in fields(IndicatorRow) if field.name in COLUMN_LABELS]
    writer.writerow(["Năm", "Nhóm", "Tên", *(COLUMN_LABELS[name] for name in names)])
    for row in rows:
        values = asdict(row)
        writer.writerow(
            [
                year,
                DIMENSION_LABELS.get(row.dimension, row.dimension),
                _csv_safe(key_label(row.dimension, row.key)),
                *(values[name] for name in names),
            ]
        )
    return buffer.getvalue()


def _csv_safe(value: object) -> object:
    # A cell starting with = + - @ is a formula in spreadsheets: neutralise it.
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@"} and value != "-":
        return "'" + value
    return value
