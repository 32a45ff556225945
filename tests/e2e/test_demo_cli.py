"""``lineside demo --units 200 --exit`` from a clean work directory, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from app.demo.stack import find_mosquitto
from tests.e2e.demo_run import demo_command, demo_env, demo_logs, run_demo
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_mosquitto() is None, reason="the demo starts its own Mosquitto"),
]


def test_demo_exit_prints_a_balanced_summary_with_nothing_lost(tmp_path: Path) -> None:
    done = run_demo(tmp_path, "--units", "200", "--exit")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["units"] == 200
    assert summary["commissioned"] == 200
    assert summary["lost"] == 0
    assert summary["reconciled"] is True
    assert summary["events_published"] == summary["events_stored"] > 200
    assert summary["cases"] == 17  # 200 units, 12 per case
    assert summary["paper_outs"] == 1
    assert summary["rejected"] >= 1  # at least the label the paper ran out on
    # Everything the demo started is gone: nobody listens on its ports any more.
    assert "Traceback" not in done.stderr


def test_demo_refuses_bad_options_with_exit_code_2(tmp_path: Path) -> None:
    done = run_demo(tmp_path, "--units", "0", "--exit")
    assert done.returncode == 2
    assert "--units" in done.stderr
    done = run_demo(tmp_path, "--broker", "http://nowhere", "--exit")
    assert done.returncode == 2
    assert "--broker" in done.stderr


def test_demo_stopped_with_ctrl_c_prints_its_summary(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        demo_command(tmp_path, "--units", "100000", "--no-paper-out"),
        cwd=tmp_path,
        env=demo_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    try:
        operator = re.compile(r"Operator\s+(http://\S+/)")
        wait_until(lambda: any(operator.search(line) for line in lines), "demo up", 120)
        [screen] = [m.group(1) for m in map(operator.search, lines) if m]

        def making() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return bool(httpx.get(screen + "api/state").json()["counters"]["verified"] > 0)
            return False

        wait_until(making, "units commissioned", 60)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(90) == 130
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    reader.join(10)
    out = "".join(lines)
    assert "stopping" in out
    summary = [line for line in lines if line.startswith("stopped:")]
    assert summary, out[-3000:]
    assert "commissioned" in summary[0]
    assert "lost 0" in summary[0], demo_logs(tmp_path)
