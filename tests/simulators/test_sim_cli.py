"""``lineside sim``: its help documents the simulators' fault commands."""

from __future__ import annotations

from typer.testing import CliRunner

from app.cli import app
from simulators.printers.engines import ZplEngine
from simulators.printers.server import CONTROL_COMMANDS, PrinterSimulator

runner = CliRunner()


def test_sim_help_lists_every_control_command() -> None:
    result = runner.invoke(app, ["sim", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    for name, what in CONTROL_COMMANDS:
        assert name in result.stdout
        assert what in result.stdout
    assert "--control-port" in result.stdout


def test_every_documented_command_is_understood() -> None:
    sim = PrinterSimulator(ZplEngine(), port=0)
    for name, _ in CONTROL_COMMANDS:
        for command in name.replace("SECONDS", "0").replace(" N", " 3").split(" / "):
            command = command.replace("on|off", "on")
            if command.split()[0] != "disconnect":
                assert "error" not in sim.control(command), command
    assert "known commands: paper_out" in str(sim.control("paper_jam")["error"])
