from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import PrinterDevice, hash_pin, load_config, parse_config, verify_pin
from lineside.errors import ConfigError

BASE = """
[line]
site = "factory-1"
line_id = "L1"
site_gln = "8934567000017"
company_prefix = "8934567"

[broker]
url = "mqtt://127.0.0.1:1883"

[outbox]
path = "line.db"
"""

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def test_minimal_config_has_defaults(tmp_path: Path) -> None:
    cfg = parse_config(BASE, base_dir=tmp_path)
    assert cfg.outbox.path == tmp_path / "line.db"
    assert cfg.timing.verify_window_ms == 800
    assert cfg.reject.kind == "simulated"


def test_outbox_confirms_with_the_broker_unless_told_otherwise(tmp_path: Path) -> None:
    cfg = parse_config(BASE, base_dir=tmp_path)
    assert (cfg.outbox.confirm, cfg.outbox.resend_after_s) == ("broker", 30.0)
    cfg = parse_config(BASE + 'confirm = "server"\nresend_after_s = 5\n', base_dir=tmp_path)
    assert (cfg.outbox.confirm, cfg.outbox.resend_after_s) == ("server", 5.0)
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + 'confirm = "nobody"\n', source="line.toml")
    assert "outbox.confirm" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + "resend_after_s = 0\n", source="line.toml")
    assert "outbox.resend_after_s" in str(info.value)


def test_bad_device_url_names_file_key_and_expectation() -> None:
    text = (
        BASE
        + """
[[devices]]
kind = "printer"
id = "p1"
role = "unit_printer"
url = "tcp://127.0.0.1:9100"

[[devices]]
kind = "printer"
id = "p2"
role = "case_printer"
url = "ftp://x"
"""
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="line.toml")
    assert str(info.value) == (
        "line.toml: devices[1].url: scheme 'ftp' is not supported; "
        "expected one of tcp, serial, usb, cups, file"
    )


def test_every_error_is_reported_at_once() -> None:
    text = (
        BASE.replace('site_gln = "8934567000017"', 'site_gln = "12"')
        + """
[timing]
verify_window_ms = 1
bogus = 3
"""
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="line.toml")
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("line.toml: line.site_gln: String should match pattern")
    assert (
        "line.toml: timing.verify_window_ms: Input should be greater than or equal to 10" in lines
    )
    assert "line.toml: timing.bogus: unknown key" in lines


def test_unknown_device_kind_and_missing_keys() -> None:
    text = BASE + '\n[[devices]]\nkind = "robot"\nid = "r"\n'
    with pytest.raises(ConfigError, match=r"devices\[0\]: unknown kind 'robot'"):
        parse_config(text)
    with pytest.raises(ConfigError, match=r"line.toml: broker: required key is missing"):
        parse_config(BASE.replace('[broker]\nurl = "mqtt://127.0.0.1:1883"', ""))


def test_inline_secret_refused_and_env_secret_read(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="password: inline secrets are not allowed"):
        parse_config(BASE.replace("[broker]\n", '[broker]\npassword = "hunter2"\n'))
    monkeypatch.setenv("LS_TEST_PW", "s3cret")
    cfg = parse_config(BASE.replace("[broker]\n", '[broker]\npassword = { env = "LS_TEST_PW" }\n'))
    assert cfg.broker.password is not None
    assert cfg.broker.password.read() == "s3cret"


def test_toml_syntax_error_names_file() -> None:
    with pytest.raises(ConfigError, match=r"^line.toml: not valid TOML: .*line 2"):
        parse_config("[line]\nsite = = 1\n")


def test_pins_are_hashed_and_checked() -> None:
    h = hash_pin("4321")
    assert verify_pin("4321", h)
    assert not verify_pin("1234", h)
    with pytest.raises(ConfigError, match=r"operators\[0\].pin_hash: expected a hash"):
        parse_config(BASE + '\n[[operators]]\nname = "Lan"\npin_hash = "4321"\n')
    cfg = parse_config(BASE + f'\n[[operators]]\nname = "Lan"\npin_hash = "{h}"\n')
    assert cfg.operator_for_pin("4321") is not None
    assert cfg.operator_for_pin("0000") is None


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("line-*.toml")), ids=lambda p: p.name)
def test_example_configs_are_valid(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg.device("unit_printer"), PrinterDevice)
