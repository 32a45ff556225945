"""The examples in the lineside.gs1 docstrings are run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lineside.gs1",
    "lineside.gs1.keys",
    "lineside.gs1.linters",
    "lineside.gs1.dictionary",
    "lineside.gs1.message",
    "lineside.gs1.digital_link",
    "lineside.gs1.serials",
    "lineside.gs1.scan",
    "lineside.gs1.coupon",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
