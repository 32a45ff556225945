"""The ``lineside edge`` commands, sd_notify, and properties of the parsers."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from app.cli import app
from edge.config import parse_config
from edge.sdnotify import notify
from lineside.errors import ConfigError
from tests.edge.conftest import make_order

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "line-example.toml"
runner = CliRunner()


def test_check_config_ok_and_bad(tmp_path: Path) -> None:
    command = ["edge", "check-config", str(EXAMPLE), "--json", "--demo", "--file-only"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True
    bad = tmp_path / "line.toml"
    bad.write_text(EXAMPLE.read_text().replace('url = "tcp://127.0.0.1:9101"', 'url = "ftp://x"'))
    result = runner.invoke(app, ["edge", "check-config", str(bad)])
    assert result.exit_code == 2
    assert "line.toml: devices[2].url: scheme 'ftp' is not supported" in result.output


def test_check_config_lists_every_problem_edge_run_would_meet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LINESIDE_TEST_NO_TOKEN", raising=False)
    bad = tmp_path / "line.toml"
    bad.write_text(
        EXAMPLE.read_text()
        .replace('site_gln = "8934567000017"', 'site_gln = "8934567000018"')
        .replace('resolver = "https://id.example.vn"', 'resolver = "javascript:alert(1)"')
        .replace('url = "tcp://127.0.0.1:9200"', 'url = "tcp:/127.0.0.1:9200"')
        .replace('unit = "builtin:unit-60x40.zpl"', 'unit = "labels/missing.zpl"')
        .replace('case = "builtin:case-100x70.zpl"\n', "")
        .replace('env = "LINESIDE_SERVER_TOKEN"', 'env = "LINESIDE_TEST_NO_TOKEN"')
        .replace('path = "/var/lib/lineside/line.db"', 'path = "line.db"')
        .replace("/sys/class/gpio/gpio17/value", str(tmp_path / "gpio17"))
    )
    result = runner.invoke(app, ["edge", "check-config", str(bad), "--json"])
    assert result.exit_code == 2
    problems = json.loads(result.output)["errors"]
    keys = [p.split(": ")[1] for p in problems]
    assert keys[:3] == ["line.site_gln", "line.resolver", "devices[1].url"]
    assert "check digit 7 expected, got 8" in problems[0]
    assert "missing '//' after 'tcp:'" in problems[2]
    assert "labels.templates" in keys  # the case printer's template is missing
    assert "labels.templates.unit" in keys
    assert "server.token.env" in keys
    assert "broker.password.file" in keys
    assert "reject.value_path" in keys
    file_only = runner.invoke(app, ["edge", "check-config", str(bad), "--json", "--file-only"])
    assert "server.token.env" not in file_only.output


def test_order_load_and_report(tmp_path: Path) -> None:
    config = tmp_path / "line.toml"
    config.write_text(
        EXAMPLE.read_text().replace('path = "/var/lib/lineside/line.db"', 'path = "line.db"')
    )
    order = tmp_path / "wo.json"
    order.write_text(make_order("WO-9").model_dump_json())
    result = runner.invoke(app, ["edge", "order", "load", str(order), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "loaded work order WO-9" in result.output
    other = tmp_path / "wo2.json"
    other.write_text(make_order("WO-10").model_dump_json())
    result = runner.invoke(app, ["edge", "order", "load", str(other), "--config", str(config)])
    assert result.exit_code == 1
    assert "'WO-9' is still open" in result.output
    broken = tmp_path / "wo3.json"
    broken.write_text(json.dumps({**json.loads(make_order().model_dump_json()), "quantity": 0}))
    result = runner.invoke(app, ["edge", "order", "load", str(broken), "--config", str(config)])
    assert result.exit_code == 2
    assert "wo3.json: quantity: Input should be greater than 0" in result.output
    result = runner.invoke(app, ["edge", "report", "WO-9", "--config", str(config)])
    assert result.exit_code == 2
    assert "no reconciliation report for work order 'WO-9'" in result.output


def test_sd_notify_sends_a_datagram(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        assert notify("READY=1", environ={"NOTIFY_SOCKET": path})
        assert server.recv(100) == b"READY=1"
    assert not notify("READY=1", environ={})
    assert not notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "absent")})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_random_config_text_only_raises_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(text)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["line", "broker", "outbox", "devices", "timing", "reject", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_random_config_structure_names_a_key(data: dict[str, object]) -> None:
    import tomllib

    try:
        text = _to_toml(data)
        tomllib.loads(text)
    except (ValueError, TypeError):
        return
    error = ""
    try:
        parse_config(text, source="f.toml")
    except ConfigError as exc:
        error = str(exc)
    assert all(line.startswith("f.toml: ") for line in error.splitlines())


def _to_toml(data: dict[str, object]) -> str:
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in data.items())
