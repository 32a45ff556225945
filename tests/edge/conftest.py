"""Fixtures for the line engine tests: a config, a journal, a simulated line."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from edge.config import LineConfig, parse_config
from lineside.contract import ProductInfo, WorkOrder

GTIN = "08934567890120"


def make_config(
    tmp_path: Path, *, line: str = "L1", port: int = 1883, extra: str = ""
) -> LineConfig:
    text = f"""
[line]
site = "factory-1"
line_id = "{line}"
site_gln = "8934567000017"
company_prefix = "8934567"

[broker]
url = "mqtt://127.0.0.1:{port}"

[timing]
verify_window_ms = 300
max_in_flight = 8
allocation_batch = 4

[policy]
max_consecutive_rejects = 4

[outbox]
path = "line.db"
{extra}
"""
    return parse_config(text, source="line.toml", base_dir=tmp_path)


def make_order(
    order_id: str = "WO-1",
    *,
    quantity: int = 20,
    units_per_case: int = 6,
    pallet: int | None = None,
) -> WorkOrder:
    return WorkOrder(
        id=order_id,
        product=ProductInfo(gtin=GTIN, name_vi="Miến dong Côn Minh", name_en="Arrowroot noodles"),
        lot="LOT-7",
        production_date=date(2026, 11, 1),
        expiry_date=date(2027, 11, 1),
        quantity=quantity,
        units_per_case=units_per_case,
        cases_per_pallet=pallet,
    )


@pytest.fixture
def unique_line() -> Callable[[], str]:
    return lambda: "L" + uuid.uuid4().hex[:10]
