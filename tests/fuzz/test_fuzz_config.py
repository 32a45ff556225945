"""Fuzz the line configuration reader: ``parse_config`` and ``load_config``.

Only :class:`~lineside.errors.ConfigError` may escape, with a message naming the source.
A configuration that loads is usable: every derived property answers, and the model
validates again from its own dump.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config import LineConfig, load_config, parse_config
from lineside.errors import ConfigError
from tests.fuzz.support import (
    InputCounter,
    fuzz_settings,
    hostile_bytes,
    hostile_text,
    long_text,
    mutated_bytes,
    mutated_text,
    returns_or_refuses,
)

_ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """\
[line]
site = "factory-1"
line_id = "L1"
site_gln = "8934567000017"
company_prefix = "8934567"

[broker]
url = "mqtt://127.0.0.1:1883"

[outbox]
path = "journal.db"
"""
EXTRA = """\
[[devices]]
kind = "printer"
id = "p1"
role = "unit_printer"
url = "tcp://10.0.0.5:9100"
language = "escpos"

[[devices]]
kind = "scanner"
id = "s1"
role = "verify_scanner"
url = "serial:///dev/ttyUSB0?baud=9600"

[reject]
kind = "serial_relay"
url = "serial:///dev/ttyUSB1"
on = "A0 01 01 A2"

[web]
port = 8080
language = "en"
"""


def _seeds() -> list[str]:
    seeds = [MINIMAL, MINIMAL + EXTRA]
    example = _ROOT / "config" / "line-example.toml"
    if example.is_file():
        seeds.append(example.read_text(encoding="utf-8"))
    return seeds


SEEDS = _seeds()
TOML_ALPHABET = "[]{}=\"'#.,\n0123456789abcdefkindurltcp:/"
#: Values dropped into ``key = value`` lines: every TOML type, and awkward ones.
TOML_VALUES = [
    '""',
    '"x"',
    "0",
    "-1",
    "99999999999999999999",
    "1e400",
    "nan",
    "inf",
    "true",
    "[]",
    "{}",
    "[1, 'a']",
    "1979-05-27T07:32:00Z",
    "'mqtt://[::1'",
    "'mqtt://h:99999'",
    "'tcp://'",
    '"\\u0000"',
    "{ env = 'X' }",
    "'a' 'b'",
]


@st.composite
def mutated_lines(draw: st.DrawFn) -> str:
    """A seed config with lines deleted, duplicated, moved or given another value."""
    lines = draw(st.sampled_from(SEEDS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1)) if lines else 0
        operation = draw(st.sampled_from(["delete", "duplicate", "move", "value", "key"]))
        if not lines:
            lines.append(draw(st.sampled_from(TOML_VALUES)))
        elif operation == "delete":
            del lines[at]
        elif operation == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), lines[at])
        elif operation == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(at))
        elif operation == "value" and "=" in lines[at]:
            key = lines[at].split("=", 1)[0]
            lines[at] = f"{key}= {draw(st.sampled_from(TOML_VALUES))}"
        elif operation == "key" and "=" in lines[at]:
            value = lines[at].split("=", 1)[1]
            lines[at] = f"{draw(st.sampled_from(['kind', 'id', 'url', 'x', 'path']))} ={value}"
    return "\n".join(lines)


def _check_config(config: LineConfig) -> None:
    """A configuration that parsed answers every question the agent asks it."""
    assert config.broker.host
    assert 0 < config.broker.port < 65536
    for role in ("unit_printer", "case_printer", "verify_scanner", "case_scanner"):
        device = config.device(role)
        assert device is None or device.role == role
    again = LineConfig.model_validate(config.model_dump())
    assert again == config


def _parse(text: str, inputs: InputCounter) -> None:
    inputs.tried("config.parse_config")
    try:
        config = parse_config(text, source="fuzz.toml")
    except ConfigError as exc:
        problem = str(exc)
    else:
        _check_config(config)
        return
    assert problem.startswith("fuzz.toml: "), problem


@fuzz_settings()
@given(text=hostile_text(extra=TOML_ALPHABET))
def test_parse_random_text(text: str, inputs: InputCounter) -> None:
    _parse(text, inputs)


@fuzz_settings()
@given(text=mutated_text(SEEDS, alphabet=TOML_ALPHABET))
def test_parse_character_mutations(text: str, inputs: InputCounter) -> None:
    _parse(text, inputs)


@fuzz_settings()
@given(text=mutated_lines())
def test_parse_line_mutations(text: str, inputs: InputCounter) -> None:
    _parse(text, inputs)


@fuzz_settings(0.1)
@given(
    text=st.one_of(
        long_text('[]{}="#.,\n0a', min_size=10_000),
        st.builds(lambda n: "a = " + "[" * n, st.integers(1_000, 200_000)),
        st.builds(lambda n: "a = " + "{b=" * n, st.integers(1_000, 100_000)),
    )
)
def test_parse_long_or_deep_input_is_refused(text: str, inputs: InputCounter) -> None:
    inputs.tried("config.parse_config")
    assert returns_or_refuses(lambda: parse_config(text), ConfigError) is None


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


@fuzz_settings(0.5)
@given(
    data=st.one_of(
        hostile_bytes(), mutated_bytes([seed.encode("utf-8") for seed in SEEDS], max_mutations=2)
    )
)
def test_load_file_bytes(data: bytes, config_dir: Path, inputs: InputCounter) -> None:
    inputs.tried("config.load_config")
    path = config_dir / "line.toml"
    path.write_bytes(data)
    try:
        config = load_config(path)
    except ConfigError as exc:
        problem = str(exc)
    else:
        _check_config(config)
        assert config.outbox.path.is_absolute()
        return
    assert "line.toml" in problem, problem
