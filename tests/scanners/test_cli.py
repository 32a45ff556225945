"""``lineside scanner``, ``lineside devices`` and ``sim scanner`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.cli import app
from edge.cli import devices as devices_cli
from edge.scanners.selftest import CALIBRATION_MESSAGE
from simulators.cli.scanner import register
from simulators.scanners.camera import FrameEffects, FrameGenerator, write_video
from simulators.scanners.codes import code_from_text

runner = CliRunner()
GENTLE = FrameEffects(rotation_deg=8.0, blur_sigma=(0.0, 0.5), occlusion=0.0, glare=0.0)


def video_of(tmp_path: Path, texts: list[str], name: str = "v.avi") -> Path:
    gen = FrameGenerator(effects=GENTLE, seed=9)
    path = tmp_path / name
    write_video(path, gen.frames_for_codes([code_from_text(t) for t in texts], 2, 1))
    return path


def test_listen_json_prints_one_parsed_read_per_line(tmp_path: Path) -> None:
    video = video_of(
        tmp_path, ["(01)08934567890120(10)L1(21)S1", "https://id.example.com/01/08934567890120"]
    )
    result = runner.invoke(
        app, ["scanner", "listen", f"camera://{video}", "--json", "--count", "2"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["symbology"] for line in lines] == ["]d2", "]Q1"]
    assert lines[0]["result"]["primary_key"] == {"ai": "01", "value": "08934567890120"}
    assert lines[0]["ok"] is True


def test_listen_bad_url_exits_2_naming_the_problem() -> None:
    result = runner.invoke(app, ["scanner", "listen", "lpt://1"])
    assert result.exit_code == 2
    assert "scheme 'lpt' is not supported" in result.output


def test_listen_on_a_missing_serial_device_says_so_once_with_a_hint(tmp_path: Path) -> None:
    missing = tmp_path / "ttyACM9"
    result = runner.invoke(app, ["scanner", "listen", f"serial://{missing}"])
    assert result.exit_code == 1
    assert result.stderr.count(str(missing)) >= 1
    assert result.stderr.count("error:") == 1
    assert "is the scanner plugged in?" in result.stderr
    assert "/dev/ttyACM*" in result.stderr
    assert "retry" not in result.output


def test_listen_on_a_closed_tcp_port_names_the_fix() -> None:
    from tests.support.broker import free_port

    result = runner.invoke(app, ["scanner", "listen", f"tcp://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "TCP server mode" in result.stderr


def test_selftest_passes_on_the_calibration_code(tmp_path: Path) -> None:
    video = video_of(tmp_path, [CALIBRATION_MESSAGE])
    result = runner.invoke(app, ["scanner", "selftest", f"camera://{video}", "--timeout", "30"])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output


def test_selftest_fails_on_another_code(tmp_path: Path) -> None:
    video = video_of(tmp_path, ["(01)08934567890120(10)AZqw-M.1/y(21)SELF_TESX"])
    result = runner.invoke(
        app, ["scanner", "selftest", f"camera://{video}", "--json", "--timeout", "30"]
    )
    assert result.exit_code == 1
    verdict = json.loads(result.stdout.splitlines()[-1])
    assert verdict["passed"] is False
    assert "character 'T' arrived as 'X': misread or transmission error" in [
        f["message"] for f in verdict["findings"]
    ]


def test_selftest_without_a_read_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "empty.avi"
    gen = FrameGenerator(effects=GENTLE, seed=1)
    write_video(path, [gen.blank() for _ in range(3)])
    result = runner.invoke(app, ["scanner", "selftest", f"camera://{path}", "--timeout", "30"])
    assert result.exit_code == 1
    assert "no read within 30 s" in result.output


def test_devices_lists_as_json() -> None:
    result = runner.invoke(app, ["devices", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.output)
    assert all(set(d) == {"kind", "path", "description"} for d in listed)


def test_usb_from_sysfs_and_input_and_cameras(tmp_path: Path) -> None:
    usb = tmp_path / "usb" / "1-1"
    usb.mkdir(parents=True)
    (usb / "idVendor").write_text("05e0\n")
    (usb / "idProduct").write_text("1200\n")
    (usb / "product").write_text("Symbol Bar Code Scanner\n")
    assert devices_cli._usb_from_sysfs(tmp_path / "usb") == [
        devices_cli.Device("usb", "05e0:1200", "Symbol Bar Code Scanner")
    ]
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    target = tmp_path / "event3"
    target.write_text("")
    (by_id / "usb-Scanner-event-kbd").symlink_to(target)
    assert devices_cli.input_devices(by_id) == [
        devices_cli.Device("input", str(by_id / "usb-Scanner-event-kbd"), str(target))
    ]
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "video0").write_text("")
    assert [d.path for d in devices_cli.cameras(dev)] == [str(dev / "video0")]


@pytest.fixture
def sim_app() -> typer.Typer:
    sim = typer.Typer(name="sim", no_args_is_help=True)
    register(sim)

    @sim.callback()
    def _sim() -> None:
        """Simulators."""

    return sim


def test_sim_scanner_serial_plays_the_codes(tmp_path: Path, sim_app: typer.Typer) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text(
        "# a comment\n(01)08934567890120(21)A\n\nhttps://x.example/01/08934567890120\n"
    )
    result = runner.invoke(
        sim_app, ["scanner", "--kind", "serial", "--codes", str(codes), "--rate", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "serial:///dev/" in result.output
    assert "scanned 2, missed 0, misread 0" in result.output


def test_sim_scanner_bad_codes_file(tmp_path: Path, sim_app: typer.Typer) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text("(01)123\n")
    result = runner.invoke(sim_app, ["scanner", "--codes", str(codes)])
    assert result.exit_code == 2
    assert "codes.txt:1:" in result.output
