"""``edge check-config`` refuses what must not reach a real line: the demo PIN (or one
anyone would guess) and passwords written into URLs; ``--demo`` allows them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from edge.config import hash_pin

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "line-zebra-tcp.toml"


def _with(tmp_path: Path, extra: str, *, replace: tuple[str, str] | None = None) -> Path:
    text = SHIPPED.read_text(encoding="utf-8")
    if replace is not None:
        assert replace[0] in text
        text = text.replace(*replace)
    path = tmp_path / "L1.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def _check(path: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["edge", "check-config", str(path), "--file-only", *options])
    return result.exit_code, result.output


def _operator(pin: str) -> str:
    return f'\n[[operators]]\nname = "Lan"\npin_hash = "{hash_pin(pin)}"\n'


def test_the_shipped_production_config_passes(tmp_path: Path) -> None:
    code, output = _check(SHIPPED)
    assert code == 0, output


@pytest.mark.parametrize("pin", ["2468", "1234"])
def test_a_demo_or_guessable_pin_is_refused(tmp_path: Path, pin: str) -> None:
    path = _with(tmp_path, _operator("730519") + _operator(pin).replace("Lan", "Minh"))
    code, output = _check(path)
    assert code == 2
    assert "L1.toml: operators[1].pin_hash: is the hash of" in output
    assert f"({pin})" in output
    assert "operators[0]" not in output
    code, output = _check(path, "--json")
    assert code == 2
    assert json.loads(output)["ok"] is False


def test_demo_allows_the_demo_pin(tmp_path: Path) -> None:
    code, output = _check(_with(tmp_path, _operator("2468")), "--demo")
    assert code == 0, output


def test_a_strong_pin_passes(tmp_path: Path) -> None:
    code, output = _check(_with(tmp_path, _operator("730519")))
    assert code == 0, output


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            'url = "mqtts://broker.example.vn:8883"',
            'url = "mqtts://factory-1.L1:stolen-secret@broker.example.vn:8883"',
            "broker.url",
        ),
        (
            'url = "tcp://192.168.10.21:9100"',
            'url = "tcp://zebra:stolen-secret@192.168.10.21:9100"',
            "devices[0].url",
        ),
    ],
)
def test_a_password_in_a_url_is_refused_without_echoing_it(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    code, output = _check(_with(tmp_path, "", replace=(old, new)))
    assert code == 2
    assert f"L1.toml: {key}:" in output
    assert "stolen-secret" not in output
