"""Run ``lineside demo`` as a user does: a subprocess in a clean work directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def demo_command(tmp_path: Path, *args: str) -> list[str]:
    """The command line of ``lineside demo --workdir TMP/demo ARGS``."""
    return [
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "demo",
        "--workdir",
        str(tmp_path / "demo"),
        *args,
    ]


def demo_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def run_demo(tmp_path: Path, *args: str, timeout: float = 170) -> subprocess.CompletedProcess[str]:
    """``lineside demo --workdir TMP/demo ARGS``, its output captured as text."""
    return subprocess.run(
        demo_command(tmp_path, *args),
        cwd=tmp_path,
        env=demo_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def demo_logs(tmp_path: Path, tail: int = 2000) -> str:
    """The end of each process log the demo wrote (shown when a demo test fails)."""
    logs = sorted((tmp_path / "demo" / "logs").glob("*.log"))
    return "\n".join(f"== {log.name}\n{log.read_text(errors='replace')[-tail:]}" for log in logs)
