"""Fixtures for printer tests: unit data and the example templates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from edge.printers.label_data import LabelData
from edge.printers.templates import BUILTIN_LABELS
from tests.support.asyncio_checks import no_leaked_tasks

__all__ = ["no_leaked_tasks"]

LABELS = BUILTIN_LABELS


@pytest.fixture
def unit() -> LabelData:
    return LabelData(
        product_name="Miến dong Côn Minh – Chè Shan tuyết Bằng Phúc",
        gtin="8934567890120",
        lot="LOT_7>A",
        serial="X7K2Q9",
        expiry=date(2027, 6, 30),
    )


@pytest.fixture(scope="session")
def labels_dir() -> Path:
    return LABELS
