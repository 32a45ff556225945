"""``lineside codes`` commands through typer's CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app.cli import app

GTIN = "08934567890120"
runner = CliRunner()


def test_parse_with_caret_and_json() -> None:
    result = runner.invoke(app, ["codes", "parse", f"]d201{GTIN}10LOT7^21X7K2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["bracketed"] == f"(01){GTIN}(10)LOT7(21)X7K2"


def test_parse_with_gs_notations() -> None:
    for separator in ("<GS>", "\\x1d"):
        result = runner.invoke(app, ["codes", "parse", f"]d201{GTIN}10LOT7{separator}21X7K2"])
        assert result.exit_code == 0, result.output
        assert "X7K2" in result.stdout
        assert "BATCH/LOT" in result.stdout


def test_parse_accepts_the_bracketed_form() -> None:
    result = runner.invoke(app, ["codes", "parse", f"(01){GTIN}(10)LOT7(21)X7K2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["is_gs1"] is True
    assert data["bracketed"] == f"(01){GTIN}(10)LOT7(21)X7K2"
    shown = runner.invoke(app, ["codes", "parse", f"(01){GTIN}(10)LOT7"])
    assert "GS1: yes" in shown.stdout
    assert "BATCH/LOT" in shown.stdout
    wrong = runner.invoke(app, ["codes", "parse", "(01)08934567890127"])
    assert wrong.exit_code == 2
    assert "bracketed element string: AI (01): check digit" in wrong.stderr


def test_parse_error_exit_2() -> None:
    result = runner.invoke(app, ["codes", "parse", "]d20108934567890127"])
    assert result.exit_code == 2
    assert "AI (01): check digit 0 expected, got 7" in result.stderr


def test_dl() -> None:
    result = runner.invoke(
        app, ["codes", "dl", f"(01){GTIN}(10)LOT7(17)270115", "--stem", "https://t.example.vn"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"https://t.example.vn/01/{GTIN}/10/LOT7?17=270115"


def test_dl_error() -> None:
    result = runner.invoke(app, ["codes", "dl", "(10)LOT7"])
    assert result.exit_code == 2
    assert "AI (10) requires" in result.stderr


def test_serials() -> None:
    result = runner.invoke(app, ["codes", "serials", "--count", "5", "--length", "10", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["serials"]) == 5
    assert all(len(s) == 10 for s in data["serials"])
    assert data["guess_probability"] == 5 / 56**10
    plain = runner.invoke(app, ["codes", "serials", "--count", "2"])
    assert len(plain.stdout.split()) == 2
    assert "guess probability" in plain.stderr


def test_check() -> None:
    ok = runner.invoke(app, ["codes", "check", "089345678912345677"])
    assert ok.exit_code == 0
    assert "SSCC 089345678912345677: check digit OK" in ok.stdout
    bad = runner.invoke(app, ["codes", "check", "8934567890121"])
    assert bad.exit_code == 1
    assert "GTIN 8934567890121: check digit 0 expected, got 1" in bad.stderr
    odd = runner.invoke(app, ["codes", "check", "12345"])
    assert odd.exit_code == 2
    assert "5 digits is not a GTIN" in odd.stderr


def test_parse_shows_a_missing_gs_warning() -> None:
    result = runner.invoke(app, ["codes", "parse", f"]d201{GTIN}10LOT121SERIAL"])
    assert result.exit_code == 0, result.output
    assert "warning: suspect_missing_gs: AI (10)" in " ".join(result.stdout.split())
    data = json.loads(runner.invoke(app, ["codes", "parse", f"]d201{GTIN}10LOT1", "--json"]).stdout)
    assert data["warnings"] == []
