"""Run ``lineside demo`` as a user does: a subprocess in a clean work directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_demo(tmp_path: Path, *args: str, timeout: float = 170) -> subprocess.CompletedProcess[str]:
    """``lineside demo --workdir TMP/demo ARGS``, its output captured as text."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "demo",
            "--workdir",
            str(tmp_path / "demo"),
            *args,
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
