"""Random serial generation."""

from __future__ import annotations

import pytest

from lineside.errors import GS1Error
from lineside.gs1 import SerialGenerator
from lineside.gs1.linters import lint


def test_defaults() -> None:
    generator = SerialGenerator()
    assert generator.symbols == "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
    assert generator.space_size == 56**12
    assert generator.guess_probability(1_000_000) == pytest.approx(1_000_000 / 56**12)
    assert generator.guess_probability(1_000_000) < 1e-4
    serials = {generator.generate() for _ in range(200)}
    assert len(serials) == 200
    for serial in serials:
        assert len(serial) == 12
        assert set(serial) <= set(generator.symbols)
        assert lint("cset82", serial) is None


def test_keeping_ambiguous_characters() -> None:
    generator = SerialGenerator(length=20, avoid_ambiguous=False)
    assert len(generator.symbols) == 62
    assert len(generator.generate()) == 20


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"length": 21}, "serial length must be 1 to 20 (AI 21 is X..20), got 21"),
        ({"length": 0}, "serial length must be 1 to 20 (AI 21 is X..20), got 0"),
        ({"alphabet": "AB "}, "serial alphabet: ' ' is not in GS1 character set 82"),
        ({"alphabet": "AB/"}, "serial alphabet: '/' would need percent-encoding in a Digital Link"),
        ({"alphabet": "0O"}, "serial alphabet needs at least 2 distinct usable characters"),
    ],
)
def test_invalid_settings(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(GS1Error) as info:
        SerialGenerator(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == error


def test_negative_issued_count() -> None:
    with pytest.raises(GS1Error, match="must not be negative"):
        SerialGenerator().guess_probability(-1)


def test_every_serial_of_the_space_can_be_drawn() -> None:
    generator = SerialGenerator(length=2, alphabet="ABC", avoid_ambiguous=False)
    drawn = {generator.generate() for _ in range(2000)}  # misses one with p < 1e-100
    assert drawn == {a + b for a in "ABC" for b in "ABC"}
