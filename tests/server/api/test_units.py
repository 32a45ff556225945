"""Settings, code parsing, language choice, rate limiting and metrics, without HTTP."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.errors import ConfigError, GS1Error
from lineside.gs1.keys import gs1_check_digit
from server.services.codes import CodeRef, instance_identifiers, parse_code
from server.services.metrics import ServerMetrics
from server.services.ratelimit import TokenBuckets
from server.services.resolver import canonical_uri
from server.settings import load_settings
from server.web.i18n import pick_language


def test_settings_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "server.toml"
    config.write_text('[server]\nresolver_domain = "https://id.a.vn/"\nport = 9000\n')
    assert load_settings(config).resolver_domain == "https://id.a.vn"
    monkeypatch.setenv("LINESIDE_SERVER_PORT", "9100")
    assert load_settings(config).port == 9100


def test_settings_errors_name_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('resolver_domain = "id.a.vn"\n')
    with pytest.raises(ConfigError, match=r"bad.toml: key 'resolver_domain'"):
        load_settings(config)
    config.write_text("port = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


SERIALS = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=20)


@given(body=st.from_regex(r"[0-9]{13}", fullmatch=True), serial=SERIALS)
def test_digital_link_round_trip(body: str, serial: str) -> None:
    gtin = body + gs1_check_digit(body)
    ref = CodeRef(gtin=gtin, serial=serial)
    parsed = parse_code(canonical_uri("https://id.example.vn", ref))
    assert (parsed.gtin, parsed.serial) == (gtin, serial)


@given(body=st.from_regex(r"08934567[0-9]{5}", fullmatch=True), serial=SERIALS)
def test_urn_round_trip(body: str, serial: str) -> None:
    gtin = body + gs1_check_digit(body)
    ref = CodeRef(gtin=gtin, serial=serial, company_prefix="8934567")
    urn = instance_identifiers(ref, [])[0]
    assert parse_code(urn) == CodeRef(gtin=gtin, serial=serial, company_prefix="8934567")


@given(st.text(max_size=300))
def test_random_text_never_crashes_the_parser(text: str) -> None:
    with contextlib.suppress(GS1Error):
        parse_code(text)


def test_parser_messages() -> None:
    with pytest.raises(GS1Error, match="check digit"):
        parse_code("(01)08934567890121(21)X")
    with pytest.raises(GS1Error, match="neither a GTIN"):
        parse_code("(10)LOT")


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "vi"),
        ("en", "vi", "en"),
        ("xx", "en", "en"),
        (None, "fr, en;q=0.5, vi;q=0.9", "vi"),
        (None, "en;q=0", "vi"),
    ],
)
def test_language_choice(query: str | None, header: str | None, expected: str) -> None:
    assert pick_language(query, header) == expected


def test_token_bucket_refills_per_key() -> None:
    buckets = TokenBuckets(rate_per_second=2.0, burst=2)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [True, True, False]
    assert buckets.take("b", now=0.0)
    assert buckets.take("a", now=0.5)
    assert not buckets.take("a", now=0.5)


def test_metrics_escape_labels() -> None:
    metrics = ServerMetrics()
    metrics.record("GET", 'a"b', 200)
    metrics.record("GET", 'a"b', 200)
    assert 'route="a\\"b",status="200"} 2.0' in metrics.render()
