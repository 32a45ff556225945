"""The request guard's byte checks, without a server: what they refuse and what they let
through (every JSON document a client may fairly send)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.api.guard import hostile_json, hostile_text

_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(-1e50, 1e50) | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=30,
)


@given(value=_json, ascii_only=st.booleans())
def test_fair_json_passes(value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    assert hostile_json(body, max_depth=64) is None


@pytest.mark.parametrize(
    "body",
    [
        b'"\\\\u0000"',  # an escaped backslash, then the text "u0000"
        b'"\\ud83d\\ude00"',  # a surrogate pair: one emoji
        b'{"a": "[[[[[["}',  # brackets inside a string do not nest
        b'{"n": 1e99, "m": -1e-999, "s": "NaN Infinity 1e999", "t": true}',
        b"[" * 8 + b"]" * 8,
    ],
)
def test_what_looks_hostile_but_is_not(body: bytes) -> None:
    assert hostile_json(body, max_depth=8) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'"\\u0000"', "NUL character in a JSON string"),
        (b'"\\\\\\u0000"', "NUL character in a JSON string"),
        (b'"\\ud83d"', "lone surrogate \\ud83d in a JSON string"),
        (b'"\\ud83dx"', "lone surrogate \\ud83d in a JSON string"),
        (b'"\\ude00"', "lone surrogate \\ude00 in a JSON string"),
        (b'"\\ud83d\\ud83d"', "lone surrogate \\ud83d in a JSON string"),
        (b"[" * 9, "JSON nested deeper than 8 levels"),
        (b'{"a":' * 9 + b"1" + b"}" * 9, "JSON nested deeper than 8 levels"),
        (b"1" * 101, "a JSON number longer than 100 digits"),
        (b"[NaN]", "a number JSON cannot hold (NaN, Infinity, an exponent of 100 or more)"),
        (b"-Infinity", "a number JSON cannot hold (NaN, Infinity, an exponent of 100 or more)"),
        (b"[2.5E+400]", "a number JSON cannot hold (NaN, Infinity, an exponent of 100 or more)"),
        (b'"\x00"', "NUL byte in the JSON body"),
        (b'"\xed\xa0\x80"', "bytes that are not UTF-8 (or a lone surrogate) in the JSON body"),
    ],
)
def test_hostile_json_is_named(body: bytes, problem: str) -> None:
    assert hostile_json(body, max_depth=8) == problem


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        (b"a=1&b=x%00", "NUL byte"),
        (b"a%00=1", "NUL byte"),
        (b"a=%ED%A0%80", "bytes that are not UTF-8 (or a lone surrogate)"),
        (b"a=%ff", "bytes that are not UTF-8 (or a lone surrogate)"),
        (b"a=%C3%A1&b=+%5B%5B", None),
        (b"", None),
    ],
)
def test_hostile_text(query: bytes, problem: str | None) -> None:
    assert hostile_text(query) == problem
