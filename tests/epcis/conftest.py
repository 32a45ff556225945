"""Shared event samples for the EPCIS tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

ICT = timezone(timedelta(hours=7))
UNIT = "https://id.gs1.org/01/08934567890120/21/Ab3x"
UNIT2 = "https://id.gs1.org/01/08934567890120/21/Zq9w"
CASE = "https://id.gs1.org/00/389345670000000018"
LINE = "https://id.gs1.org/414/8934567000017/254/L1"
SITE = "https://id.gs1.org/414/8934567000017"


@pytest.fixture
def event_time() -> datetime:
    return datetime(2024, 5, 1, 8, 30, 15, 123000, tzinfo=ICT)


@pytest.fixture
def utc_time() -> datetime:
    return datetime(2024, 5, 1, 1, 30, 15, 123000, tzinfo=UTC)
