"""The clustered deployment's example files: the site bridge and a NATS node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.cluster import bridge_config, find_nats_server

ROOT = Path(__file__).resolve().parents[2]


def _directives(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_bridge_example_is_what_the_cluster_test_runs() -> None:
    example = _directives((ROOT / "config/mosquitto/bridge-nats.conf").read_text())
    nodes = [(f"nats-{n}.lineside.internal", 8883) for n in (1, 2, 3)]
    generated = _directives(bridge_config("factory-1", nodes))
    # The example adds TLS and the site's user at the cluster after the generated section.
    assert example[: len(generated)] == generated
    assert "cleansession false" in example


def test_the_node_example_is_valid_for_nats_server(tmp_path: Path) -> None:
    binary = find_nats_server()
    if binary is None:
        pytest.skip("nats-server is not installed")
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *(
                "-subj",
                "/CN=t",
                "-keyout",
                str(tmp_path / "k.key"),
                "-out",
                str(tmp_path / "c.crt"),
            ),
        ],
        check=True,
        capture_output=True,
    )
    text = (ROOT / "config/nats/node.conf").read_text()
    text = text.replace("/etc/lineside/nats/server.crt", str(tmp_path / "c.crt"))
    text = text.replace("/etc/lineside/nats/server.key", str(tmp_path / "k.key"))
    text = text.replace("/etc/lineside/nats/ca.crt", str(tmp_path / "c.crt"))
    config = tmp_path / "node.conf"
    config.write_text(text)
    checked = subprocess.run(
        [binary, "-c", str(config), "-t"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
