"""Settings of the aggregator, from a TOML file and ``LINESIDE_SERVER_*`` variables.

Environment variables win over the file, the file wins over the defaults::

    # server.toml
    database_url = "postgresql+psycopg://lineside@db/lineside"
    resolver_domain = "https://id.example.vn"

    >>> settings = ServerSettings(resolver_domain="https://id.example.vn")
    >>> settings.resolver_domain
    'https://id.example.vn'
"""

from __future__ import annotations

import secrets
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lineside.errors import ConfigError

ENV_PREFIX = "LINESIDE_SERVER_"


class ServerSettings(BaseSettings):
    """Everything the aggregator needs to start.

    >>> ServerSettings(database_url="sqlite://").ingest_enabled
    False
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = Field(
        default="sqlite:///lineside.db", description="SQLAlchemy URL of the database."
    )
    broker_url: str = Field(
        default="mqtt://127.0.0.1:1883", description="MQTT broker for ingestion and commands."
    )
    resolver_domain: str = Field(
        default="https://id.example.org",
        description="Scheme and host printed in Digital Link QR codes (no trailing slash).",
    )
    portal_endpoint: str | None = Field(
        default=None, description="Base URL of the national traceability portal API."
    )
    ingest_enabled: bool = Field(default=False, description="Consume line events from MQTT.")
    portal_enabled: bool = Field(default=False, description="Forward data to the portal.")
    secret_key: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="Salt of the hashed client addresses kept with consumer scans.",
    )
    token_ttl_seconds: int = Field(default=8 * 3600, gt=0, le=30 * 24 * 3600)
    rate_limit_per_minute: int = Field(
        default=120, gt=0, description="Requests per minute per client IP on public routes."
    )
    rate_limit_burst: int = Field(default=30, gt=0)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, gt=0, lt=65536)
    province: str = Field(default="", description="Province name shown on yearly reports.")
    secure_cookies: bool = Field(
        default=True, description="Mark the dashboard session cookie Secure (needs HTTPS)."
    )

    @field_validator("resolver_domain")
    @classmethod
    def _domain_has_scheme(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            msg = f"resolver_domain must start with https:// or http://, got {value!r}"
            raise ValueError(msg)
        return value.rstrip("/")


def load_settings(path: Path | None = None) -> ServerSettings:
    """Read settings from ``path`` (TOML) overlaid with ``LINESIDE_SERVER_*`` variables.

    Raises :class:`ConfigError` naming the file and the key that is wrong.
    """
    where = str(path) if path is not None else "environment"
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        # A [server] table is accepted so one file can hold several sections.
        server_table = file_values.get("server")
        if isinstance(server_table, dict):
            file_values = server_table
    try:
        from_env = ServerSettings()
        env_values = from_env.model_dump(include=from_env.model_fields_set)
        return ServerSettings(**{**file_values, **env_values})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "?"
        raise ConfigError(f"{where}: key {key!r}: {first['msg']}") from exc
