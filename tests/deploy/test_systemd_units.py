"""The systemd units we ship parse and verify (``systemd-analyze verify``): settings,
commands and the timer's calendar, with the install path pointed at this checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_every_unit_verifies(tmp_path: Path) -> None:
    venv_bin = str(Path(sys.executable).parent) + "/"
    names = []
    for unit in sorted(UNITS.iterdir()):
        text = unit.read_text(encoding="utf-8").replace("/opt/lineside/.venv/bin/", venv_bin)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
        names.append(str(tmp_path / unit.name))
    assert any(name.endswith("lineside-partitions.timer") for name in names)
    result = subprocess.run(
        ["systemd-analyze", "verify", *names],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
