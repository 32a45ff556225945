from __future__ import annotations

import os
import subprocess
import sys
import time

from app.bench.e2e import cpu_seconds


def test_cpu_seconds_counts_the_work_a_process_did() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    # The kernel counts in clock ticks (10 ms here): most of the 100 ms must show.
    assert cpu_seconds(os.getpid()) - before >= 0.05


def test_a_process_that_is_gone_used_no_cpu() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert cpu_seconds(process.pid) == 0.0
