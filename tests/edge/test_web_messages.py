"""Every message the operator screen can receive has words in both catalogues."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from edge.verdicts import Phase
from edge.web.messages import _FAULTS, _PATTERNS, describe
from lineside.contract import AlarmCode

CATALOG = resources.files("edge.web").joinpath("static/i18n.js").read_text(encoding="utf-8")
TILE_CODES = {"ready", "fault", "ok", "connected", "offline", "unreachable", "unknown",
              "not_used", "via_outbox", "backlog"}  # fmt: skip


def _keys(language: str) -> set[str]:
    start = CATALOG.index(f"  {language}: {{")
    end = CATALOG.index("\n  },", start)
    block = CATALOG[start:end].split("{", 1)[1]
    return set(re.findall(r'(?:^|,|\{)\s*([a-z_]+): ["\[]', block, re.MULTILINE))


def _codes() -> set[str]:
    codes = {code for _, code in _PATTERNS} | {"unknown_error", "invalid_input", "other"}
    codes |= {f"f_{code}" for code in _FAULTS.values()} | {"f_other"}
    codes |= {f"alarm_{code.value}" for code in AlarmCode}
    codes |= {phase.value for phase in Phase} | TILE_CODES
    codes |= {f"tile_{n}" for n in ("printer", "media", "scanner", "broker", "server", "outbox")}
    return codes


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_code_has_words(language: str) -> None:
    assert sorted(_codes() - _keys(language)) == []


def test_both_catalogues_have_the_same_keys() -> None:
    assert _keys("vi") == _keys("en")


@pytest.mark.parametrize(
    ("text", "code", "params"),
    [
        ("unit printer: head open", "printer_fault", {"fault": "head_open"}),
        ("verify scanner offline: [Errno 2] gone", "scanner_offline", {}),
        ("duplicate: serial already commissioned", "duplicate", {"state": "commissioned"}),
        (
            "wrong product: GTIN 08934567890137, expected 1",
            "wrong_product",
            {"gtin": "08934567890137"},
        ),
        ("serial 'X1' was never issued on this line", "serial_unknown", {"serial": "X1"}),
        ("operator: hết nguyên liệu", "paused_by_operator", {"text": "hết nguyên liệu"}),
        ("something nobody foresaw", "unknown", {}),
    ],
)
def test_engine_texts_become_codes(text: str, code: str, params: dict[str, str]) -> None:
    message = describe(text)
    assert (message.code, message.params) == (code, params)
