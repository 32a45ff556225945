"""GS1 Digital Link conformance: the GS1 Syntax Engine's DL parse/generate vectors.

Failures are compared with ``known_failures/gs1.toml`` (section ``dl_*``); a summary
line per section is printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lineside.errors import DigitalLinkError, GS1Error
from lineside.gs1.digital_link import (
    GS1_RESOLVER_ROOT,
    parse_digital_link,
    percent_decode,
    percent_encode,
    split_digital_link,
    to_digital_link,
)
from lineside.gs1.message import GS1Message
from tests.conformance.test_gs1_syntax import Vector, by_src, parse_engine_data, run_section

ZERO_SUPPRESSED = "gs1_encoder_setPermitZeroSuppressedGTINinDLuris"
UNKNOWN_AIS = "gs1_encoder_setPermitUnknownAIs"
UNKNOWN_AI_NOT_DL_ATTR = "gs1_encoder_setValidationEnabled(gs1_encoder_vUNKNOWN_AI_NOT_DL_ATTR)"
CONVENIENCE_ALPHAS = "ctx->permitConvenienceAlphas"


def unknown_ais_in_dl(settings: dict[str, Any]) -> bool:
    """The engine needs two settings for unknown AIs as DL data attributes; Lineside's
    ``permit_unknown_ais`` stands for both."""
    return bool(settings.get(UNKNOWN_AIS)) and settings.get(UNKNOWN_AI_NOT_DL_ATTR) is False


def load(vectors_dir: Path) -> dict[str, Any]:
    path = vectors_dir / "digital-link" / "gs1-syntax-engine-dl-vectors.json"
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def test_parse_dl_uri(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = load(vectors_dir)["parse_dl_uri"]

    def passes(vector: Vector) -> bool:
        settings = vector.get("settings", {})
        try:
            message = parse_digital_link(
                vector["uri"],
                permit_zero_suppressed_gtin=settings.get(ZERO_SUPPRESSED, False),
                permit_unknown_ais=unknown_ais_in_dl(settings),
                permit_convenience_alphas=settings.get(CONVENIENCE_ALPHAS, False),
            )
        except DigitalLinkError:
            return not vector["valid"]
        return (
            bool(vector["valid"]) and "^" + message.as_raw(separator="^") == vector["expected_raw"]
        )

    run_section("dl_parse", vectors, by_src, passes, capsys)


def test_generate_dl_uri(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = load(vectors_dir)["generate_dl_uri"]

    def passes(vector: Vector) -> bool:
        settings = vector.get("settings", {})
        source = vector.get("bracketed") or vector["data_str"]
        stem = GS1_RESOLVER_ROOT if vector["stem"] is None else vector["stem"]
        try:
            if source.startswith("http"):
                # A DL URI input keeps its own path: re-pointed, not rebuilt.
                parse_digital_link(source)
                uri = split_digital_link(source).as_uri(stem)
            else:
                message = parse_engine_data(
                    source, permit_unknown_ais=settings.get(UNKNOWN_AIS, False)
                )
                uri = to_digital_link(
                    message, stem=stem, permit_unknown_ais=unknown_ais_in_dl(settings)
                )
        except GS1Error:
            return not vector["valid"]
        return bool(vector["valid"]) and uri == vector["expected_uri"]

    run_section("dl_generate", vectors, by_src, passes, capsys)


def test_uri_escape_and_unescape(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = load(vectors_dir)

    def escape_passes(vector: Vector) -> bool:
        return bool(
            percent_encode(vector["input"]) == vector["expected_path_component"]
            and percent_encode(vector["input"], query=True) == vector["expected_query_component"]
        )

    def unescape_passes(vector: Vector) -> bool:
        return bool(
            percent_decode(vector["input"]) == vector["expected_path_component"]
            and percent_decode(vector["input"], query=True) == vector["expected_query_component"]
        )

    run_section("dl_uri_escape", data["uri_escape"], by_src, escape_passes, capsys)
    run_section("dl_uri_unescape", data["uri_unescape"], by_src, unescape_passes, capsys)


def test_valid_path_sequences(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = load(vectors_dir)["valid_path_ai_sequences"]
    # Values that satisfy each path AI's syntax, so only the sequence is under test.
    samples = {
        "00": "006141411234567890",
        "01": "12312312312333",
        "22": "CPV",
        "10": "LOT",
        "21": "SER",
        "235": "TPX",
        "253": "1231231231232",
        "255": "1231231231232",
        "401": "1234",
        "402": "12345678901234560",
        "414": "1231231231232",
        "254": "EXT",
        "7040": "1ABC",
        "415": "1231231231232",
        "8020": "REF",
        "417": "1231231231232",
        "8003": "01231231231232",
        "8004": "1234",
        "8006": "123123123123330102",
        "8010": "1234",
        "8011": "1",
        "8013": "1987654Ad4X4bL5ttr2310c2K",
        "8017": "123456789012345675",
        "8018": "123456789012345675",
        "8019": "1",
    }

    def passes(vector: Vector) -> bool:
        path = "".join(f"/{ai}/{samples.get(ai, 'X')}" for ai in vector["path_ais"])
        try:
            parts = split_digital_link(f"https://example.com{path}")
        except DigitalLinkError:
            return False
        found = [parts.primary_key.ai, *(q.ai for q in parts.qualifiers)]
        return bool(found == vector["path_ais"])

    run_section("dl_path_sequences", vectors, lambda _i, v: "/".join(v["path_ais"]), passes, capsys)


def test_ignored_query_params(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = load(vectors_dir)["ignored_query_params"]

    def passes(vector: Vector) -> bool:
        text = vector["input"]
        if not text.startswith("http"):
            return not vector["getDLignoredQueryParams"]
        try:
            parts = split_digital_link(text)
        except GS1Error:
            return False
        return bool(list(parts.ignored_query) == vector["getDLignoredQueryParams"])

    run_section("dl_ignored_query", vectors, lambda i, v: f"{i}:{v['input']}", passes, capsys)


def test_round_trip_through_generated_uri() -> None:
    message = GS1Message.parse("(01)12312312312333(10)ABC/1(21)S1(17)261231")
    assert parse_digital_link(to_digital_link(message)).as_bracketed() == (
        "(01)12312312312333(10)ABC/1(21)S1(17)261231"
    )
