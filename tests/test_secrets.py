"""No secret is committed, and none is printed by the server's or the edge's settings or logs.

The first half scans every file git knows (tracked, plus new files not ignored) for
things that look like credentials; only the documented demo values listed in
:data:`DEMO_VALUES` may appear. The second half configures passwords and tokens, runs
the code paths that describe settings or report connection failures, and checks that
the secret never reaches a ``repr``, an error message or a log record.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import pytest

from edge.config import load_config, verify_pin
from edge.journal import Journal
from edge.outbox import OutboxPublisher
from edge.serials import HttpSerialSource
from lineside.errors import ConfigError, LinesideError, TransportError
from lineside.mqtt import BrokerEndpoint
from server.app import create_app
from server.ingest.ingestor import IngestSettings
from server.services.commands import MqttCommandPublisher
from server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[1]

#: Credentials that look real anywhere in any file.
ANYWHERE = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "API key": re.compile(r"\bsk-[A-Za-z0-9]{32,}\b"),
    "argon2 password hash": re.compile(r"\$argon2(?:id|i|d)\$v=\d+\$m=\d+"),
    # scheme://user:password@host, unless the password is a ${VAR} or <placeholder>.
    "password in a URL": re.compile(
        r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:(?![$<{])(?P<password>[^\s/@'\"]+)@"
    ),
}
#: URL passwords that are obviously placeholders in documentation and tests.
PLACEHOLDER_PASSWORD = re.compile(r"(?i)^(?:[a-z-]*-)?(?:password|secret|changeme|x+|\*+)$")

#: Secrets written as values in configuration files (TOML, INI, systemd, env, YAML).
CONFIG_SUFFIXES = {".toml", ".conf", ".ini", ".cfg", ".env", ".service", ".yaml", ".yml"}
IN_CONFIG = {
    "secret as a literal": re.compile(
        r"""(?ix)^\s*(?:Environment\s*=\s*"?)?(?:[\w.-]*[_.-])?
        (?:password|passwd|secret|token|api[_-]?key|private[_-]?key|pin)(?:[_.-][\w.-]*)?
        (?<!_file)(?<!_path)(?<!_env)(?<!_dir)\s*[=:]\s*["']?(?![\d.]+["']?\s*(?:\#|$))(?!true\b|false\b)[^\s"'{}]{4,}""",
    ),
}

#: The comment that marks a demo operator PIN hash in an example line configuration.
DEMO_PIN = re.compile(r"#\s*demo PIN (?P<pin>\d{4,12}): (?:change|replace) it")
#: Documented demo values: (path glob, label, a regex the matching line must contain).
DEMO_VALUES = {("config/*.toml", "secret as a literal", DEMO_PIN.pattern)}


def _candidate_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to scan")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8", "replace")
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def _findings(path: Path, text: str) -> list[tuple[str, str, str]]:
    relative = path.relative_to(ROOT).as_posix()
    checks = dict(ANYWHERE)
    if path.suffix in CONFIG_SUFFIXES or path.name in {"acl", ".env"}:
        checks |= IN_CONFIG
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for label, pattern in checks.items():
            match = pattern.search(line)
            if match is None:
                continue
            password = match.groupdict().get("password")
            allowed = (password is not None and PLACEHOLDER_PASSWORD.match(password)) or any(
                fnmatch(relative, demo_path) and label == demo_label and re.search(marker, line)
                for demo_path, demo_label, marker in DEMO_VALUES
            )
            if not allowed:
                found.append((f"{relative}:{number}", label, line.strip()[:120]))
    return found


def test_no_tracked_file_holds_a_secret() -> None:
    files = _candidate_files()
    assert len(files) > 50  # the listing worked
    this_file = Path(__file__).resolve()
    findings = []
    for path in files:
        if path.resolve() == this_file:
            continue  # the patterns themselves
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images, fonts) hold no configuration
        findings += _findings(path, text)
    assert findings == []


@pytest.mark.parametrize(
    ("relative", "line", "label"),
    [
        ("config/x.toml", 'password = "hunter22"', "secret as a literal"),
        ("config/x.toml", 'pin_hash = "scrypt$16384$8$1$00$11"', "secret as a literal"),
        (
            "systemd/x.service",
            "Environment=LINESIDE_SERVER_SECRET_KEY=abcd1234",
            "secret as a literal",
        ),
        ("server/x.py", 'URL = "postgresql://app:pa55word@db/x"', "password in a URL"),
        ("docs/x.md", "-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
    ],
)
def test_the_scanner_catches_planted_secrets(relative: str, line: str, label: str) -> None:
    assert [f[1] for f in _findings(ROOT / relative, line)] == [label]


@pytest.mark.parametrize(
    "line",
    [
        'password = { file = "/etc/lineside/mqtt-password" }',
        'token = { env = "LINESIDE_SERVER_TOKEN" }',
        'url = "mqtt://127.0.0.1:1883"',
        "database_url = postgresql+psycopg://lineside@db/lineside",
        "token_ttl_seconds = 28800",
        'broker_password_file = "/etc/lineside/credentials/server.mqtt-password"',
        "secure_cookies = false",
        "BROKER_URL=mqtt://aggregator:the-aggregator-password@127.0.0.1:1883",
    ],
)
def test_the_scanner_accepts_references_to_secrets(line: str) -> None:
    assert _findings(ROOT / "config/x.toml", line) == []


def test_every_example_pin_hash_is_marked_as_demo_and_honest() -> None:
    """A PIN hash in a shipped example is the demo PIN its comment names, so nobody
    mistakes it for a real operator's (and the comment cannot lie)."""
    pin_lines = [
        (path.name, line)
        for path in sorted((ROOT / "config").glob("*.toml"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("pin_hash")
    ]
    assert pin_lines
    for name, line in pin_lines:
        marker = DEMO_PIN.search(line)
        assert marker is not None, f"{name}: pin_hash without a '# demo PIN nnnn: change it'"
        pin_hash = line.split("=", 1)[1].split("#", 1)[0].strip().strip('"')
        assert verify_pin(marker["pin"], pin_hash), f"{name}: the hash is not of the demo PIN"


# --------------------------------------------------------------------------- logs

DB_PASSWORD = "db-S3cr3t-9f2c"
MQTT_PASSWORD = "mq-S3cr3t-77ab"
SECRET_KEY = "salt-S3cr3t-4e1d"
TOKEN = "tok-S3cr3t-a9b8c7"
SECRETS = (DB_PASSWORD, MQTT_PASSWORD, SECRET_KEY, TOKEN)


def _assert_hidden(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked in: {text[:300]}"


def test_server_settings_never_show_their_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ServerSettings(
        database_url=f"postgresql+psycopg://lineside:{DB_PASSWORD}@127.0.0.1:1/lineside",
        broker_url=f"mqtt://aggregator:{MQTT_PASSWORD}@127.0.0.1:1",
        secret_key=SECRET_KEY,
        broker_password=MQTT_PASSWORD,
        portal_token=TOKEN,
    )
    _assert_hidden(repr(settings), str(settings), f"{settings!r}")
    assert "127.0.0.1:1" in repr(settings)  # still useful for debugging
    assert settings.secret_key.get_secret_value() == SECRET_KEY
    logging.getLogger("tests.secrets").info("settings: %r", settings)
    _assert_hidden(caplog.text)


def test_server_connection_failures_do_not_print_passwords(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from fastapi.testclient import TestClient

    caplog.set_level(logging.DEBUG)
    settings = ServerSettings(
        database_url=f"postgresql+psycopg://lineside:{DB_PASSWORD}@127.0.0.1:1/lineside",
        broker_url=f"mqtt://aggregator:{MQTT_PASSWORD}@127.0.0.1:1",
        secret_key=SECRET_KEY,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    _assert_hidden(ready.text, caplog.text)
    publisher = MqttCommandPublisher(settings.broker_endpoint(), timeout=1)
    with pytest.raises(TransportError) as failed:
        publisher.publish("lineside/v1/s/l/commands", b"{}")
    _assert_hidden(str(failed.value), repr(failed.value), caplog.text)
    with pytest.raises(ConfigError) as refused:
        BrokerEndpoint.from_url(f"http://aggregator:{MQTT_PASSWORD}@127.0.0.1:1")
    _assert_hidden(str(refused.value))
    ingest = IngestSettings(username="aggregator", password=MQTT_PASSWORD)
    _assert_hidden(repr(ingest), str(ingest))


async def test_edge_settings_and_failures_do_not_print_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(MQTT_PASSWORD + "\n", encoding="utf-8")
    example = (ROOT / "config" / "line-example.toml").read_text(encoding="utf-8")
    example = example.replace("/etc/lineside/mqtt-password", password_file.as_posix())
    example = example.replace("/var/lib/lineside/line.db", (tmp_path / "line.db").as_posix())
    config_path = tmp_path / "line.toml"
    config_path.write_text(example, encoding="utf-8")
    monkeypatch.setenv("LINESIDE_MQTT_USER", "factory-1.L1")
    monkeypatch.setenv("LINESIDE_SERVER_TOKEN", TOKEN)
    config = load_config(config_path)
    _assert_hidden(repr(config), str(config))
    assert config.broker.password is not None
    assert config.broker.password.read() == MQTT_PASSWORD
    from edge.agent import broker_endpoint

    endpoint, _client_id = broker_endpoint(config)
    assert endpoint.password == MQTT_PASSWORD
    _assert_hidden(repr(endpoint), str(endpoint))
    # A broker that is not there: the publisher retries and logs, never the password.
    unreachable = BrokerEndpoint(host="127.0.0.1", port=1, username="u", password=MQTT_PASSWORD)
    Journal.open(tmp_path / "outbox.db").close()  # the publisher reads the journal's outbox
    publisher = OutboxPublisher(tmp_path / "outbox.db", unreachable, "secrets-test")
    publisher.start()
    publisher.stop(flush_timeout=0)
    _assert_hidden(caplog.text)
    source = HttpSerialSource("http://127.0.0.1:1", "L1", token=TOKEN, timeout=1)
    with pytest.raises(LinesideError) as failed:
        await source.fetch(5, gtin="08934567890120")
    _assert_hidden(str(failed.value), repr(source), caplog.text)
