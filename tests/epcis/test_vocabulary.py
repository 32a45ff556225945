from __future__ import annotations

import json
from pathlib import Path

import pytest

from lineside.epcis.vocabulary import (
    BizStep,
    BizTransactionType,
    Disposition,
    ErrorReason,
    SourceDestType,
    _CBVTerm,
    expand_cbv_term,
    is_absolute_uri,
    parse_biz_step,
    parse_disposition,
)


@pytest.mark.parametrize(
    ("kind", "section"),
    [
        (BizStep, "bizStep"),
        (Disposition, "disposition"),
        (BizTransactionType, "bizTransactionType"),
        (SourceDestType, "sourceDestType"),
        (ErrorReason, "errorReason"),
    ],
)
def test_terms_match_the_cbv_vocabulary(
    vectors_dir: Path, kind: type[_CBVTerm], section: str
) -> None:
    vocab = json.loads((vectors_dir / "epcis/derived/cbv-vocabulary.json").read_text())
    values = vocab[section]["values"]
    assert {v["short"] for v in values} == {t.value for t in kind}
    for v in values:
        term = kind(v["short"])
        assert term.uri == v["uri"]
        assert term.urn == v["legacy_urn"]


@pytest.mark.parametrize(
    "spelling",
    [
        "commissioning",
        "https://ref.gs1.org/cbv/BizStep-commissioning",
        "urn:epcglobal:cbv:bizstep:commissioning",
    ],
)
def test_every_spelling_of_a_term_parses_to_it(spelling: str) -> None:
    assert parse_biz_step(spelling) is BizStep.COMMISSIONING


def test_user_defined_uri_is_kept() -> None:
    assert parse_disposition("https://example.com/disp/quarantined") == (
        "https://example.com/disp/quarantined"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("packng", "'packng' is not a CBV 2.0 business step"),
        ("https://ref.gs1.org/cbv/BizStep-packng", "is not a CBV 2.0 business step"),
        ("urn:epcglobal:cbv:bizstep:flying", "is not a CBV 2.0 business step"),
    ],
)
def test_unknown_cbv_terms_are_rejected(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_biz_step(value)


def test_expand_cbv_term() -> None:
    assert expand_cbv_term(Disposition, "urn:epcglobal:cbv:disp:active") == (
        "https://ref.gs1.org/cbv/Disp-active"
    )
    assert expand_cbv_term(Disposition, "whatever") == "whatever"


def test_is_absolute_uri() -> None:
    assert is_absolute_uri("https://id.gs1.org/414/8934567000017")
    assert is_absolute_uri("urn:epc:id:sscc:0614141.1234567890")
    assert not is_absolute_uri("8934567000017")
    assert not is_absolute_uri("https://id.gs1.org/with space")
