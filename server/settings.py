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

import ipaddress
import secrets
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import make_url

from lineside.contract import IDENTIFIER
from lineside.errors import ConfigError
from lineside.mqtt import BrokerEndpoint

if TYPE_CHECKING:
    from server.ingest.jetstream import JetStreamSettings

ENV_PREFIX = "LINESIDE_SERVER_"

#: Settings whose values are URLs that may carry a password.
_URL_SETTINGS = frozenset({"database_url", "database_read_url", "broker_url", "portal_endpoint"})


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, fit for logs and messages.

    >>> redact_url("postgresql+psycopg://app:secret@db:5432/lineside")
    'postgresql+psycopg://app:***@db:5432/lineside'
    >>> redact_url("mqtt://127.0.0.1:1883")
    'mqtt://127.0.0.1:1883'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class ServerSettings(BaseSettings):
    """Everything the aggregator needs to start.

    >>> ServerSettings(database_url="sqlite://").ingest_enabled
    False
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = Field(
        default="sqlite:///lineside.db", description="SQLAlchemy URL of the database."
    )
    database_read_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of a PostgreSQL streaming-replication standby that serves "
        "trace and resolver reads; unset, every read goes to database_url.",
    )
    replica_max_lag_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Reads go to the primary while the replica is further behind than this.",
    )
    replica_check_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long a check of the replica's state and lag is trusted.",
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
    broker_username: str | None = Field(default=None, description="MQTT user of the aggregator.")
    broker_password: SecretStr | None = Field(default=None, description="MQTT password.")
    broker_password_file: Path | None = Field(
        default=None, description="File holding the MQTT password (wins over broker_password)."
    )
    broker_admin_username: str | None = Field(
        default=None,
        description="Broker administrator (dynamic security) that enrols line identities.",
    )
    broker_admin_password_file: Path | None = Field(
        default=None, description="File holding the broker administrator's password."
    )
    ingest_enabled: bool = Field(default=False, description="Consume line events from MQTT.")
    ingest_client_id: str = Field(
        default="lineside-aggregator",
        min_length=1,
        max_length=128,
        description="MQTT client ID; stable across restarts, distinct per aggregator process.",
    )
    ingest_share_group: str | None = Field(
        default=None,
        description="Consume events through $share/<group>/... so processes split the load.",
    )
    ingest_source: Literal["mqtt", "jetstream"] = Field(
        default="mqtt",
        description="Consume from the MQTT broker, or from the JetStream stream of a NATS "
        "cluster (docs/scaling.md; create it with `lineside server jetstream-setup`).",
    )
    ingest_nats_servers: tuple[str, ...] = Field(
        default=("nats://127.0.0.1:4222",),
        description="NATS nodes of the cluster (with ingest_source = 'jetstream').",
    )
    ingest_nats_username: str | None = Field(default=None, description="NATS user.")
    ingest_nats_password_file: Path | None = Field(
        default=None, description="File holding the NATS password."
    )
    ingest_jetstream_stream: str = Field(
        default="LINESIDE", description="The JetStream stream of line messages."
    )
    ingest_jetstream_durable: str = Field(
        default="aggregators", description="The durable consumer every aggregator pulls from."
    )
    portal_enabled: bool = Field(default=False, description="Forward data to the portal.")
    epcis_subscriptions_enabled: bool = Field(
        default=True, description="Deliver EPCIS query subscriptions to their webhooks."
    )
    portal_token: SecretStr | None = Field(default=None, description="Bearer token of the portal.")
    portal_token_file: Path | None = Field(
        default=None, description="File holding the portal token (wins over portal_token)."
    )
    portal_format: Literal["epcis", "record"] = Field(
        default="epcis", description="EPCIS 2.0 documents, or mapped records for portals."
    )
    secret_key: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="Salt of the hashed client addresses kept with consumer scans.",
    )
    audit_signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 key (PEM) that signs audit checkpoints; out of the database's reach.",
    )
    audit_checkpoint_file: Path | None = Field(
        default=None, description="Append-only JSON-lines file of signed audit checkpoints."
    )
    audit_checkpoint_portal_url: str | None = Field(
        default=None,
        description="Portal URL that receives each audit checkpoint (bearer: portal_token).",
    )
    audit_checkpoint_interval_s: float = Field(
        default=300.0, gt=0, description="Seconds between audit checkpoints."
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
    # Under abuse (docs/security.md, "The server under abuse").
    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description="Addresses or networks of reverse proxies whose X-Forwarded-For is "
        "believed; from any other peer the header is ignored.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Largest request body read (EPCIS capture aside)."
    )
    max_json_depth: int = Field(default=32, ge=4, le=256, description="Deepest JSON nesting.")
    password_hash_concurrency: int = Field(
        default=2, gt=0, le=64, description="Password checks (argon2) running at once."
    )
    password_hash_queue: int = Field(
        default=64, gt=0, description="Sign-ins waiting for a password check before 429."
    )
    lockout_threshold: int = Field(
        default=5, gt=0, description="Failed sign-ins in a row before an account is locked."
    )
    lockout_base_seconds: float = Field(default=2.0, gt=0, description="First lock; doubles.")
    lockout_max_seconds: float = Field(default=900.0, gt=0, description="Longest lock.")
    failed_login_window_seconds: float = Field(
        default=60.0, gt=0, description="Failed sign-ins are audited as one count per window."
    )
    dashboard_refresh_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often the live dashboard looks for changes."
    )
    timezone: str = Field(
        default="Asia/Ho_Chi_Minh",
        description="IANA time zone of the times shown on pages and of report years.",
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # repr() and str() end up in logs and tracebacks: never show URL passwords.
        for name, value in super().__repr_args__():
            if name in _URL_SETTINGS and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value

    @field_validator("resolver_domain")
    @classmethod
    def _domain_has_scheme(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            msg = f"resolver_domain must start with https:// or http://, got {value!r}"
            raise ValueError(msg)
        return value.rstrip("/")

    @field_validator("database_read_url")
    @classmethod
    def _replica_is_postgresql(cls, value: str | None) -> str | None:
        if value is not None and _backend(value) != "postgresql":
            msg = (
                "database_read_url must be a PostgreSQL URL (a streaming-replication "
                f"standby), got {redact_url(value)!r}"
            )
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _replica_streams_from_the_primary(self) -> ServerSettings:
        if self.database_read_url is None:
            return self
        if _backend(self.database_url) != "postgresql":
            msg = (
                "database_read_url needs database_url on PostgreSQL (the replica streams "
                f"from it), but database_url is {redact_url(self.database_url)!r}"
            )
            raise ValueError(msg)
        if _same_database(self.database_read_url, self.database_url):
            msg = "database_read_url names the same database as database_url; leave it unset"
            raise ValueError(msg)
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from exc
        return value

    def zone(self) -> ZoneInfo:
        """The time zone of pages and reports.

        >>> ServerSettings(database_url="sqlite://").zone().key
        'Asia/Ho_Chi_Minh'
        """
        return ZoneInfo(self.timezone)

    @field_validator("ingest_share_group")
    @classmethod
    def _share_group_is_an_identifier(cls, value: str | None) -> str | None:
        if value is not None and not IDENTIFIER.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid MQTT share group name")
        return value

    def broker_endpoint(self) -> BrokerEndpoint:
        """The broker for ingestion and commands, with the credentials from these settings."""
        return BrokerEndpoint.from_url(
            self.broker_url, username=self.broker_username, password=self.mqtt_password()
        )

    def broker_admin_endpoint(self) -> BrokerEndpoint:
        """The broker as its administrator, who creates, rotates and revokes line users."""
        if self.broker_admin_username is None or self.broker_admin_password_file is None:
            raise ConfigError(
                "broker_admin_username and broker_admin_password_file: both are needed "
                "to enrol lines at the broker"
            )
        password = _secret(None, self.broker_admin_password_file, "broker_admin_password_file")
        return BrokerEndpoint.from_url(
            self.broker_url, username=self.broker_admin_username, password=password
        )

    def jetstream_settings(self) -> JetStreamSettings:
        """How the aggregator consumes the JetStream stream (``ingest_source = 'jetstream'``)."""
        from server.ingest.jetstream import JetStreamSettings

        password = _secret(None, self.ingest_nats_password_file, "ingest_nats_password_file")
        try:
            return JetStreamSettings(
                servers=self.ingest_nats_servers,
                username=self.ingest_nats_username,
                password=password,
                stream=self.ingest_jetstream_stream,
                durable=self.ingest_jetstream_durable,
                client_name=self.ingest_client_id,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"ingest_nats_servers / ingest_jetstream_*: {first['msg']}") from exc

    def mqtt_password(self) -> str | None:
        """The broker password, read from ``broker_password_file`` when one is set."""
        return _secret(self.broker_password, self.broker_password_file, "broker_password_file")

    def portal_bearer_token(self) -> str | None:
        """The portal token, read from ``portal_token_file`` when one is set."""
        return _secret(self.portal_token, self.portal_token_file, "portal_token_file")


def _backend(url: str) -> str:
    """The backend name of a database URL (``postgresql``, ``sqlite``...).

    >>> _backend("postgresql+psycopg://u@h/d"), _backend("sqlite://")
    ('postgresql', 'sqlite')
    """
    try:
        return make_url(url).get_backend_name()
    except Exception as exc:  # SQLAlchemy raises ArgumentError and ValueError alike
        raise ValueError(f"cannot parse database URL {redact_url(url)!r}: {exc}") from exc


def _same_database(first: str, second: str) -> bool:
    """Whether two URLs reach the same database, whatever driver each names."""
    return bool(
        make_url(first).set(drivername="postgresql")
        == make_url(second).set(drivername="postgresql")
    )


def _secret(value: SecretStr | None, path: Path | None, key: str) -> str | None:
    # Secrets live in files readable by the service only (systemd credentials, mode 0600),
    # never in the TOML file or in logs; the file is read when needed, not kept in settings.
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from exc
    return value.get_secret_value() if value is not None else None


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
        key = ".".join(str(part) for part in first["loc"])
        if not key:  # a rule about several keys names them in its message
            raise ConfigError(f"{where}: {first['msg']}") from exc
        raise ConfigError(f"{where}: key {key!r}: {first['msg']}") from exc
