"""The shipped example configurations load, and the deployment guide quotes real commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from app.cli import app
from edge.config import PrinterDevice, ScannerDevice, load_config
from edge.drivers.url import parse_transport_url
from edge.printers.templates import load_template
from edge.scanners import open_scanner
from lineside.errors import ConfigError
from server.settings import ENV_PREFIX, load_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
DEPLOY_GUIDE = ROOT / "docs" / "deploy.md"
LINE_CONFIGS = sorted(CONFIG.glob("line-*.toml"))
OUR_LINE_CONFIGS = ("line-zebra-tcp.toml", "line-escpos-usb-camera.toml")
SHELL_LANGUAGES = {"sh", "bash", "console", ""}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``LINESIDE_SERVER_*`` variable of the test machine leaks into the settings."""
    import os

    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def test_the_examples_exist() -> None:
    names = {p.name for p in LINE_CONFIGS}
    assert set(OUR_LINE_CONFIGS) <= names
    assert (CONFIG / "server-postgresql.toml").is_file()


@pytest.mark.parametrize("path", LINE_CONFIGS, ids=lambda p: p.name)
def test_every_line_config_validates(path: Path) -> None:
    config = load_config(path)
    assert config.device("unit_printer") is not None
    assert config.device("verify_scanner") is not None


@pytest.mark.parametrize("path", LINE_CONFIGS, ids=lambda p: p.name)
def test_every_line_config_waits_for_the_servers_receipts(path: Path) -> None:
    """A broker restarted without its state must not cost events (docs/reliability.md)."""
    outbox = load_config(path).outbox
    assert outbox.confirm == "server"
    assert outbox.resend_after_s == 30


@pytest.mark.parametrize("path", LINE_CONFIGS, ids=lambda p: p.name)
def test_check_config_command_accepts_every_line_config(path: Path) -> None:
    demo = [] if path.name in OUR_LINE_CONFIGS else ["--demo"]
    command = ["edge", "check-config", str(path), "--json", "--file-only", *demo]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert '"ok": true' in result.output


@pytest.mark.parametrize("name", OUR_LINE_CONFIGS)
def test_the_production_examples_carry_no_demo_pin(name: str) -> None:
    """The deployment guide installs these: a demo PIN in them would reach real lines."""
    assert "demo PIN" not in (CONFIG / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", OUR_LINE_CONFIGS)
def test_device_urls_and_templates_of_the_examples_open(name: str) -> None:
    config = load_config(CONFIG / name)
    for device in config.devices:
        if isinstance(device, PrinterDevice):
            assert parse_transport_url(device.url).url == device.url
        else:
            assert isinstance(device, ScannerDevice)
            assert open_scanner(device.url, device.id).url == device.url
    for template in config.labels.templates.values():
        load_template(template)  # raises when missing or malformed


@pytest.mark.parametrize("name", OUR_LINE_CONFIGS)
def test_examples_keep_secrets_out_and_state_in_the_unit_state_directory(name: str) -> None:
    config = load_config(CONFIG / name)
    assert config.broker.url.startswith("mqtts://")
    assert config.broker.password is not None
    assert config.broker.password.file is not None
    assert config.broker.password.env is None
    # lineside-edge@<line>.service owns /var/lib/lineside/<line> (StateDirectory=).
    assert config.outbox.path.parent == Path("/var/lib/lineside") / config.line.line_id
    assert all(op.pin_hash.startswith("scrypt$") for op in config.operators)


def test_the_two_examples_never_make_the_same_sscc() -> None:
    a, b = (load_config(CONFIG / name).line for name in OUR_LINE_CONFIGS)
    assert a.company_prefix == b.company_prefix
    (a_first, a_last), (b_first, b_last) = a.sscc_references(), b.sscc_references()
    assert a_last < b_first or b_last < a_first
    assert a.line_id != b.line_id


def test_a_broken_copy_of_an_example_is_refused(tmp_path: Path) -> None:
    text = (CONFIG / "line-zebra-tcp.toml").read_text(encoding="utf-8")
    broken = tmp_path / "L1.toml"
    broken.write_text(text.replace('url = "tcp://192.168.10.21:9100"', 'url = "ftp://x"'))
    with pytest.raises(
        ConfigError, match=r"L1\.toml: devices\[0\]\.url: scheme 'ftp' is not supported"
    ):
        load_config(broken)


@pytest.mark.usefixtures("clean_env")
def test_server_config_loads() -> None:
    settings = load_settings(CONFIG / "server-postgresql.toml")
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.ingest_enabled
    assert settings.portal_enabled
    assert settings.portal_endpoint
    assert settings.resolver_domain == "https://id.example.vn"
    # No password may be written in the shipped file.
    assert "@127.0.0.1" not in settings.broker_url
    assert ":" not in settings.database_url.split("://", 1)[1].split("@", 1)[0]


@pytest.mark.usefixtures("clean_env")
def test_server_env_file_overrides_the_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "mqtt://aggregator:secret@127.0.0.1:1883"
    monkeypatch.setenv("LINESIDE_SERVER_BROKER_URL", url)
    assert load_settings(CONFIG / "server-postgresql.toml").broker_url == url


# -- every `lineside ...` command in docs/deploy.md exists, with the options it uses ------


def _shell_commands(markdown: str) -> list[str]:
    """The commands of the shell code blocks, continuation lines joined."""
    blocks: list[str] = []
    language: str | None = None  # inside a fenced block: its language
    for line in markdown.splitlines(keepends=True):
        fence = line.strip()
        if fence.startswith("```"):
            if language is None:
                language = fence[3:].strip()
                blocks.append("")
            else:
                language = None
        elif language in SHELL_LANGUAGES:
            blocks[-1] += line
    commands: list[str] = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|\||;|\|", line):
                if part.strip() and not part.strip().startswith("#"):
                    commands.append(part.strip())
    return commands


def _lineside_argv(command: str) -> list[str] | None:
    """The arguments after ``lineside`` when ``command`` runs the CLI, else ``None``."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        return None
    while words and (words[0] == "sudo" or re.fullmatch(r"[A-Z_]+=\S*", words[0])):
        words = words[1:]
        while words and words[0].startswith("-"):
            # sudo's options; -u takes a value
            words = words[2:] if words[0] == "-u" else words[1:]
    if not words or Path(words[0]).name != "lineside":
        return None
    return words[1:]


def _deploy_cli_calls() -> list[list[str]]:
    calls = [_lineside_argv(c) for c in _shell_commands(DEPLOY_GUIDE.read_text(encoding="utf-8"))]
    return [c for c in calls if c is not None]


def _resolve(argv: list[str]) -> tuple[Any, list[str], list[str]]:
    """The (click) command ``argv`` names, its path, and the words left for it."""
    # typer bundles its own click, so groups are recognised by their ``commands``.
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(argv)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"'lineside {' '.join([*path, rest[0]])}' is not a command"
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    return command, path, rest


def test_the_guide_quotes_the_main_commands() -> None:
    quoted = {" ".join(_resolve(argv)[1]) for argv in _deploy_cli_calls()}
    for needed in (
        "devices",
        "printer status",
        "printer test",
        "scanner selftest",
        "label preview",
        "edge check-config",
        "edge hash-pin",
        "server migrate",
        "server add-user",
    ):
        assert needed in quoted


@pytest.mark.parametrize("argv", _deploy_cli_calls(), ids=" ".join)
def test_every_lineside_command_in_the_guide_exists(argv: list[str]) -> None:
    command, path, rest = _resolve(argv)
    options = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    for word in rest:
        if word.startswith("-"):
            assert word.split("=", 1)[0] in options, f"lineside {' '.join(path)}: no {word}"
    if path:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_the_command_finder_sees_through_sudo_and_paths() -> None:
    assert _lineside_argv("sudo -u lineside /opt/lineside/.venv/bin/lineside server migrate") == [
        "server",
        "migrate",
    ]
    assert _lineside_argv("sudo systemctl enable --now lineside-edge@L1") is None
    assert _lineside_argv("sudo useradd --system lineside") is None
    with pytest.raises(AssertionError, match="'lineside edge nope' is not a command"):
        _resolve(["edge", "nope"])
