"""Server secrets come from files or the environment, never show in reprs, and bad names fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineside.errors import ConfigError
from server.settings import ServerSettings, load_settings


def test_secrets_are_read_from_files(tmp_path: Path) -> None:
    (tmp_path / "mqtt").write_text("mqtt-secret\n")
    (tmp_path / "portal").write_text("portal-secret\n")
    config = tmp_path / "server.toml"
    config.write_text(
        f'broker_username = "aggregator"\n'
        f'broker_password_file = "{tmp_path / "mqtt"}"\n'
        f'portal_token_file = "{tmp_path / "portal"}"\n'
        f'ingest_share_group = "aggregators"\n'
    )
    settings = load_settings(config)
    assert settings.mqtt_password() == "mqtt-secret"
    assert settings.portal_bearer_token() == "portal-secret"
    assert settings.ingest_share_group == "aggregators"
    assert "mqtt-secret" not in repr(settings)
    assert "portal-secret" not in repr(settings)


def test_inline_secrets_stay_hidden() -> None:
    settings = ServerSettings(broker_password="pw-123", portal_token="tok-456")
    assert settings.mqtt_password() == "pw-123"
    assert settings.portal_bearer_token() == "tok-456"
    assert "pw-123" not in repr(settings)
    assert "tok-456" not in str(settings.model_dump())


def test_a_missing_secret_file_names_the_key(tmp_path: Path) -> None:
    settings = ServerSettings(broker_password_file=tmp_path / "absent")
    with pytest.raises(ConfigError, match="broker_password_file: cannot read"):
        settings.mqtt_password()


@pytest.mark.parametrize("group", ["a/b", "+", "#", "x\n", ""])
def test_share_group_must_be_an_identifier(tmp_path: Path, group: str) -> None:
    config = tmp_path / "server.toml"
    config.write_text(f"ingest_share_group = {group!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError, match="ingest_share_group"):
        load_settings(config)
