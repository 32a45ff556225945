"""GS1 Barcode Syntax Dictionary conformance: linter and element-string vectors.

Each test runs every vector of one section, collects the ids that fail and compares
them with ``known_failures/gs1.toml``: a new failure and a known failure that now
passes both fail the test. A summary line per section is printed.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lineside.errors import GS1Error
from lineside.gs1.dictionary import syntax_dictionary
from lineside.gs1.linters import LintFailure, lint
from lineside.gs1.message import ElementString, GS1Message

KNOWN_FAILURES = Path(__file__).parent / "known_failures" / "gs1.toml"

Vector = dict[str, Any]


def known_failures(section: str) -> set[str]:
    """Vector ids of ``section`` listed in the known-failures file."""
    data = tomllib.loads(KNOWN_FAILURES.read_text("utf-8"))
    return {
        vector_id
        for group in data.get("group", [])
        if group["section"] == section
        for vector_id in group["ids"]
    }


def run_section(
    section: str,
    vectors: list[Vector],
    vector_id: Callable[[int, Vector], str],
    passes: Callable[[Vector], bool],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run ``passes`` on each vector and compare the failures with the known list."""
    failing = {vector_id(i, v) for i, v in enumerate(vectors) if not passes(v)}
    known = known_failures(section)
    with capsys.disabled():
        print(
            f"\n[conformance] {section}: {len(vectors) - len(failing)}/{len(vectors)} pass, "
            f"{len(failing & known)} known failures"
        )
    assert sorted(failing - known) == [], "unexpected failures"
    assert sorted(known - failing) == [], "known failures that now pass: update gs1.toml"


def by_src(_index: int, vector: Vector) -> str:
    return str(vector["src"])


def load(vectors_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir / "gs1-syntax" / name).read_text("utf-8"))
    return data


def parse_engine_data(text: str, *, permit_unknown_ais: bool = False) -> GS1Message:
    """Read the engine's notation: ``^``-prefixed raw or bracketed, ``|`` before a
    composite component (a second carrier on the same item, so the messages join)."""
    elements: list[ElementString] = []
    for part in text.split("|"):
        if part.startswith("("):
            message = GS1Message.parse(part, permit_unknown_ais=permit_unknown_ais)
        elif part.startswith("^"):
            message = GS1Message.parse(
                part, separators_trusted=True, permit_unknown_ais=permit_unknown_ais
            )
        else:
            raise GS1Error("not AI data")
        elements.extend(message.elements)
    return GS1Message(tuple(elements))


def highlight(text: str, failure: LintFailure) -> str:
    return f"{text[: failure.start]}*{text[failure.start : failure.end]}*{text[failure.end :]}"


def test_linter_vectors(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = load(vectors_dir, "linter-vectors.json")
    vectors: list[Vector] = data["vectors"]
    assert len(vectors) == data["counts"]["total"] == 5671

    def passes(vector: Vector) -> bool:
        text = vector["input"]
        failure = lint(vector["linter"], text)
        if vector["expect"] == "pass":
            return failure is None
        return (
            failure is not None
            and "GS1_LINTER_" + failure.code == vector["error"]
            and highlight(text, failure) == vector["highlight"]
        )

    run_section("linter", vectors, by_src, passes, capsys)


def test_bracketed_to_raw(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = load(vectors_dir, "element-string-vectors.json")["bracketed_to_raw"]

    def passes(vector: Vector) -> bool:
        try:
            message = GS1Message.parse(vector["bracketed"])
        except GS1Error:
            return not vector["valid"]
        return bool(vector["valid"]) and "^" + message.as_raw(separator="^") == vector[
            "expected_raw"
        ].replace("\\(", "(")

    run_section("bracketed_to_raw", vectors, by_src, passes, capsys)


def test_raw_ai_data(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = load(vectors_dir, "element-string-vectors.json")["raw_ai_data"]

    def passes(vector: Vector) -> bool:
        raw = vector["raw"]
        try:
            # The engine's raw notation starts with FNC1 in first position ("^").
            if not raw.startswith("^"):
                raise GS1Error("no FNC1 in first position")
            message = GS1Message.parse(raw, separators_trusted=True)
            for element in message.elements:
                element.validate()
        except GS1Error:
            return not vector["valid"]
        return bool(vector["valid"])

    run_section("raw_ai_data", vectors, by_src, passes, capsys)


def test_ai_associations(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = load(vectors_dir, "element-string-vectors.json")["ai_associations"]
    checks: dict[str, Callable[[GS1Message], None]] = {
        "validateAIrepeats": GS1Message.check_repeats,
        "validateAImutex": GS1Message.check_exclusions,
        "validateAIrequisites": GS1Message.check_requisites,
        "validateDigSigRequiresSerialisedKey": GS1Message.check_digital_signature,
    }

    def passes(vector: Vector) -> bool:
        message = GS1Message.parse(vector["bracketed"], permit_unknown_ais=True)
        try:
            checks[vector["validation"]](message)
        except GS1Error:
            return not vector["valid"]
        return bool(vector["valid"])

    run_section("ai_associations", vectors, by_src, passes, capsys)


def test_linter_error_by_ai(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = load(vectors_dir, "element-string-vectors.json")["linter_error_by_ai"]
    dictionary = syntax_dictionary()

    def passes(vector: Vector) -> bool:
        message = GS1Message.parse(vector["bracketed"])
        codes = []
        for element in message.elements:
            problem = dictionary[element.ai].check_value(element.value)
            if problem is not None:
                codes.append("GS1_LINTER_" + problem[1].code)
        expected = vector["expected_linter_result"]
        return codes == ([] if expected == "GS1_LINTER_OK" else [expected])

    run_section("linter_error_by_ai", vectors, lambda _i, v: str(v["bracketed"]), passes, capsys)


def test_hri(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lineside.gs1.digital_link import parse_digital_link

    vectors = load(vectors_dir, "element-string-vectors.json")["hri"]

    def passes(vector: Vector) -> bool:
        settings = vector.get("settings", {})
        text = vector["input"]
        unknown = settings.get("gs1_encoder_setPermitUnknownAIs", False)
        try:
            if text.startswith("http"):
                # Unknown AIs as Digital Link data attributes take two engine settings.
                not_dl_attr = settings.get(
                    "gs1_encoder_setValidationEnabled(gs1_encoder_vUNKNOWN_AI_NOT_DL_ATTR)", True
                )
                message = parse_digital_link(text, permit_unknown_ais=unknown and not not_dl_attr)
            else:
                message = parse_engine_data(text, permit_unknown_ais=unknown)
        except GS1Error:
            return False
        lines = message.as_hri()
        if settings.get("gs1_encoder_setIncludeDataTitlesInHRI"):
            lines = [f"{e.title} {e.as_hri()}" for e in message.elements]
        return bool(lines == vector["getHRI"])

    run_section("hri", vectors, lambda i, v: f"{i}:{v['input']}", passes, capsys)


def test_ai_data_str_roundtrip(vectors_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lineside.gs1.digital_link import parse_digital_link

    vectors = load(vectors_dir, "element-string-vectors.json")["ai_data_str_roundtrip"]

    def as_engine_raw(message: GS1Message) -> str:
        return "^" + message.as_raw(separator="^")

    def passes(vector: Vector) -> bool:
        text = vector["input"]
        bracketed: str | None
        try:
            if text.startswith(("http://", "https://", "HTTP://", "HTTPS://")):
                message = parse_digital_link(text)
                bracketed = message.as_bracketed()
            else:
                # Validated as one message; a composite ("|") part renders on its own.
                message = parse_engine_data(text)
                bracketed = "|".join(parse_engine_data(p).as_bracketed() for p in text.split("|"))
        except GS1Error:
            message, bracketed = None, None
        if "getAIdataStr" in vector and bracketed != vector["getAIdataStr"]:
            return False
        if "getDataStr" in vector and vector["input_kind"] == "AIdataStr":
            return message is not None and as_engine_raw(message) == vector["getDataStr"]
        return True

    run_section("ai_data_str_roundtrip", vectors, lambda i, v: f"{i}:{v['input']}", passes, capsys)
