"""The line configuration: one TOML file per line, validated into typed models.

A technician writes ``line.toml``; :func:`load_config` turns it into a :class:`LineConfig`
or raises :class:`~lineside.errors.ConfigError` naming the file, the key path and what was
expected, for every problem at once::

    line.toml: devices[1].url: scheme 'ftp' is not supported; expected one of tcp, serial, usb,
    cups, file

Secrets (broker and server credentials) are never written in the file: the file names an
environment variable or a file that holds them.

>>> cfg = parse_config('''
... [line]
... site = "factory-1"
... line_id = "L1"
... site_gln = "8934567000017"
... company_prefix = "8934567"
... [broker]
... url = "mqtt://127.0.0.1:1883"
... [outbox]
... path = "journal.db"
... ''', source="line.toml")
>>> cfg.line.line_id, cfg.timing.verify_window_ms
('L1', 800)
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import os
import secrets
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.device_url import DeviceKind, DeviceUrlError
from edge.drivers.url import TRANSPORT_URLS, parse_transport_url
from edge.printers.templates import builtin_or_path
from lineside.contract import IDENTIFIER
from lineside.errors import ConfigError, GS1Error
from lineside.gs1.digital_link import GS1_RESOLVER_ROOT

BROKER_SCHEMES = ("mqtt", "mqtts")
#: A reject relay board hangs on a serial line or a TCP socket.
RELAY_URLS = DeviceKind(
    "relay",
    {key: TRANSPORT_URLS.examples[key] for key in ("serial", "tcp")},
)


def _check_url(url: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(url)
    # .port raises ValueError for "host:99999" or "a:b:c"; refuse such a URL here, at load.
    parts.port  # noqa: B018
    scheme = parts.scheme
    if not scheme:
        raise ValueError(f"{url!r} has no scheme (expected {', '.join(schemes)})")
    if scheme not in schemes:
        raise ValueError(f"unsupported scheme {scheme!r} (expected {', '.join(schemes)})")
    return url


def _check_device_url(url: str, parse: Callable[[str], object]) -> str:
    """``url`` if the device URL grammar and its kind accept it; the key path names it."""
    try:
        parse(url)
    except DeviceUrlError as exc:
        raise ValueError(exc.problem) from exc
    return url


def _scanner_url(url: str) -> object:
    # Imported here: the scanner drivers (cameras, HID) are heavy and a configuration
    # without scanners does not need them.
    from edge.scanners.urls import parse_scanner_url

    return parse_scanner_url(url)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineSection(_Model):
    """Who and where this line is."""

    site: str = Field(pattern=IDENTIFIER.pattern)
    line_id: str = Field(pattern=IDENTIFIER.pattern)
    site_gln: str = Field(pattern=r"^\d{13}$")
    company_prefix: str = Field(pattern=r"^\d{6,12}$")
    name: str = ""
    #: Resolver stem of the Digital Links printed in QR codes.
    resolver: str = GS1_RESOLVER_ROOT
    #: SSCC extension digit used for cases (pallets use ``extension + 1`` modulo 10).
    sscc_extension: int = Field(default=0, ge=0, le=9)
    #: SSCC serial references this line may use, ``[first, last]`` inclusive. Give every line
    #: of a company a disjoint range, or two lines print the same SSCC. Without it the line
    #: uses the whole reference space from 1 (safe only for a company with one line).
    sscc_range: tuple[int, int] | None = None

    @field_validator("site_gln")
    @classmethod
    def _gln(cls, value: str) -> str:
        from lineside.gs1.keys import Gln

        try:
            Gln.parse(value)
        except GS1Error as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("resolver")
    @classmethod
    def _resolver(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not a web address; expected https://host[/path], "
                "e.g. https://id.example.vn"
            )
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError(f"{value!r}: a resolver stem has no credentials, query or fragment")
        return value

    @model_validator(mode="after")
    def _sscc_range(self) -> LineSection:
        if self.sscc_range is not None:
            first, last = self.sscc_range
            top = sscc_reference_max(self.company_prefix)
            if first < 1 or first > last:
                raise ValueError(f"sscc_range: [{first}, {last}] must be 1 <= first <= last")
            if last > top:
                raise ValueError(
                    f"sscc_range: last {last} exceeds {top}, the largest serial reference "
                    f"with company prefix {self.company_prefix}"
                )
        return self

    def sscc_references(self) -> tuple[int, int]:
        """The configured range, or the whole reference space of the company prefix."""
        return self.sscc_range or (1, sscc_reference_max(self.company_prefix))


def sscc_reference_max(company_prefix: str) -> int:
    """The largest SSCC serial reference with ``company_prefix`` (17 digits, less extension).

    >>> sscc_reference_max("8934567")
    999999999
    """
    return int(10 ** (16 - len(company_prefix))) - 1


class _Secret(_Model):
    """A credential read from an environment variable or a file, never inline."""

    env: str | None = None
    file: Path | None = None

    def read(self) -> str | None:
        """The secret's value, or ``None`` when neither source is set or present."""
        if self.env is not None and self.env in os.environ:
            return os.environ[self.env]
        if self.file is not None:
            try:
                return self.file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {self.file}: {exc.strerror}") from exc
        return None


class BrokerSection(_Model):
    """The MQTT broker the agent publishes to."""

    url: str
    client_id: str | None = None
    username: _Secret | None = None
    password: _Secret | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("username", "password"):
                if isinstance(data.get(key), str):
                    raise ValueError(
                        f"{key}: inline secrets are not allowed; "
                        f'use {key} = {{ env = "VAR" }} or {{ file = "/path" }}'
                    )
        return data

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _check_url(url, BROKER_SCHEMES)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)


class ServerSection(_Model):
    """The central server (serial blocks over HTTP).

    The agent signs in with ``username`` and ``password`` (``POST /auth/token``) and signs in
    again when its token expires; a fixed ``token`` is used as it is.
    """

    url: str
    token: _Secret | None = None
    username: str | None = None
    password: _Secret | None = None
    block_size: int = Field(default=1000, ge=1, le=100_000)
    serial_length: int = Field(default=12, ge=8, le=20)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("token", "password"):
                if isinstance(data.get(key), str):
                    raise ValueError(
                        f"{key}: inline secrets are not allowed; "
                        f'use {key} = {{ env = "VAR" }} or {{ file = "/path" }}'
                    )
        return data

    @model_validator(mode="after")
    def _credentials(self) -> ServerSection:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class PrinterLanguage(enum.StrEnum):
    ZPL = "zpl"
    ESCPOS = "escpos"


class PrinterDevice(_Model):
    """A label printer."""

    kind: Literal["printer"]
    id: str = Field(pattern=IDENTIFIER.pattern)
    role: Literal["unit_printer", "case_printer"]
    url: str
    language: PrinterLanguage = PrinterLanguage.ZPL
    #: Print resolution: the label preflight checks X-dimensions in millimetres with it.
    dpi: int = Field(default=203, ge=100, le=1200)
    #: Labels the agent may have sent but not yet seen printed.
    max_in_flight: int = Field(default=8, ge=1, le=256)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _check_device_url(url, parse_transport_url)


class ScannerDevice(_Model):
    """A barcode scanner or camera."""

    kind: Literal["scanner"]
    id: str = Field(pattern=IDENTIFIER.pattern)
    role: Literal["verify_scanner", "case_scanner", "manual_scanner"]
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _check_device_url(url, _scanner_url)


Device = Annotated[PrinterDevice | ScannerDevice, Field(discriminator="kind")]


class SimulatedReject(_Model):
    """A reject output that only records what it would have done (tests, dry runs)."""

    kind: Literal["simulated"] = "simulated"


class SerialRelayReject(_Model):
    """A relay board on a serial line: ``on`` bytes, wait ``pulse_ms``, ``off`` bytes."""

    kind: Literal["serial_relay"]
    url: str
    on: str = Field(default="A0 01 01 A2", description="hex bytes")
    off: str = Field(default="A0 01 00 A1", description="hex bytes")
    pulse_ms: int = Field(default=200, ge=1, le=10_000)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _check_device_url(url, functools.partial(parse_transport_url, kind=RELAY_URLS))

    @field_validator("on", "off")
    @classmethod
    def _hex(cls, value: str) -> str:
        try:
            bytes.fromhex(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not hex bytes such as 'A0 01 01 A2'") from exc
        return value


class GpioReject(_Model):
    """A GPIO line driven through a sysfs-style value file (``/sys/class/gpio/gpio17/value``)."""

    kind: Literal["gpio"]
    value_path: Path
    active_high: bool = True
    pulse_ms: int = Field(default=200, ge=1, le=10_000)


RejectOutputConfig = Annotated[
    SimulatedReject | SerialRelayReject | GpioReject, Field(discriminator="kind")
]


class LabelsSection(_Model):
    """Label template files by name (a work order names its templates).

    A path is relative to the configuration file; ``builtin:NAME`` names a template
    shipped with Lineside (``unit-60x40.zpl``, ``case-100x70.zpl``, ``unit-58mm.toml``,
    ``case-58mm.toml``).
    """

    templates: dict[str, Path] = Field(default_factory=dict)


class TimingSection(_Model):
    verify_window_ms: int = Field(default=800, ge=10, le=60_000)
    #: Units printed but not yet verified; lets the line run faster than one round trip.
    max_in_flight: int = Field(default=16, ge=1, le=1024)
    #: At most this many serials are allocated and marked sent in one commit before their
    #: labels are printed (the engine sizes each batch from measured commit and print times).
    allocation_batch: int = Field(default=32, ge=1, le=10_000)
    #: How long after its label is printed the case scanner must read a case's SSCC.
    case_verify_window_ms: int = Field(default=3000, ge=10, le=120_000)


class PolicySection(_Model):
    #: This many rejects in a row pause the line with an alarm.
    max_consecutive_rejects: int = Field(default=5, ge=1, le=1000)
    #: Raise an alarm when fewer serials than this remain in the reserve.
    serials_low_water: int = Field(default=500, ge=0)
    #: Raise an alarm when fewer SSCC serial references than this remain in ``sscc_range``.
    sscc_low_water: int = Field(default=200, ge=0)
    #: New SSCCs tried for one case whose label the case scanner does not confirm, before
    #: the line pauses.
    case_label_attempts: int = Field(default=3, ge=1, le=20)
    #: A broker unreachable this long raises ``broker_unreachable`` on the operator screen
    #: (the line keeps running on its outbox; the alarm is published once the broker is back).
    broker_alarm_after_s: float = Field(default=30.0, ge=0)
    #: This many units in a row without any read from a connected verify scanner raise
    #: ``scanner_silent`` (``max_consecutive_rejects`` still decides when the line pauses).
    scanner_silent_after: int = Field(default=5, ge=1, le=1000)
    #: With a grading verify camera (``camera://0?grade=1``): a unit whose code grades
    #: below this is rejected ("print quality"); unset, grades are only shown.
    min_print_grade: Literal["A", "B", "C", "D"] | None = None
    #: Reads in the rolling print-quality grade.
    print_quality_window: int = Field(default=20, ge=1, le=10_000)


class OutboxSection(_Model):
    path: Path
    disk_budget_mb: float = Field(default=512.0, gt=0)
    alarm_at_percent: float = Field(default=80.0, gt=0, le=100)
    #: Who confirms an event before it leaves the outbox: the broker's PUBACK, or the
    #: aggregator's receipt (survives a broker restart without persistence; needs a server).
    confirm: Literal["broker", "server"] = "broker"
    #: With ``confirm = "server"``: an event without a receipt this long is sent again.
    resend_after_s: float = Field(default=30.0, gt=0, le=3600)


class WebSection(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    language: Literal["vi", "en"] = "vi"
    #: The clock and times on the operator screen.
    timezone: str = "Asia/Ho_Chi_Minh"
    #: The line's rated speed (units per minute): the screen's target and OEE performance.
    target_per_minute: float = Field(default=60.0, gt=0, le=100_000)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. 'Asia/Ho_Chi_Minh')") from exc
        return value


PIN_SCHEME = "scrypt"


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """Hash an operator PIN for the config file (scrypt, random salt).

    >>> h = hash_pin("1234", salt=bytes(16))
    >>> h.startswith("scrypt$16384$8$1$") and verify_pin("1234", h) and not verify_pin("1235", h)
    True
    """
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ConfigError("PIN must be 4 to 12 digits")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=16384, r=8, p=1, dklen=32)
    return f"{PIN_SCHEME}$16384$8$1${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    """Whether ``pin`` matches a hash made by :func:`hash_pin` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = pin_hash.split("$")
        if scheme != PIN_SCHEME:
            return False
        actual = hashlib.scrypt(
            pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual.hex(), digest)


class Operator(_Model):
    name: str = Field(min_length=1, max_length=100)
    pin_hash: str

    @field_validator("pin_hash")
    @classmethod
    def _pin_hash(cls, value: str) -> str:
        parts = value.split("$")
        if len(parts) != 6 or parts[0] != PIN_SCHEME:
            raise ValueError(
                "expected a hash made by 'lineside edge hash-pin' (scrypt$...), never a plain PIN"
            )
        return value


class LineConfig(_Model):
    """The whole configuration of one line's agent."""

    line: LineSection
    broker: BrokerSection
    server: ServerSection | None = None
    devices: tuple[Device, ...] = ()
    reject: RejectOutputConfig = Field(default_factory=SimulatedReject)
    labels: LabelsSection = Field(default_factory=LabelsSection)
    timing: TimingSection = Field(default_factory=TimingSection)
    policy: PolicySection = Field(default_factory=PolicySection)
    outbox: OutboxSection
    web: WebSection = Field(default_factory=WebSection)
    operators: tuple[Operator, ...] = ()

    @model_validator(mode="after")
    def _roles(self) -> LineConfig:
        seen: set[str] = set()
        for device in self.devices:
            if device.id in seen:
                raise ValueError(f"device id {device.id!r} is used twice")
            seen.add(device.id)
        for role in ("unit_printer", "verify_scanner", "case_printer", "case_scanner"):
            if sum(1 for d in self.devices if d.role == role) > 1:
                raise ValueError(f"more than one device has role {role!r}")
        return self

    def device(self, role: str) -> PrinterDevice | ScannerDevice | None:
        """The device with ``role``, or ``None``."""
        return next((d for d in self.devices if d.role == role), None)

    def operator_for_pin(self, pin: str) -> Operator | None:
        """The operator whose PIN this is, or ``None``."""
        return next((op for op in self.operators if verify_pin(pin, op.pin_hash)), None)


_UNION_TAGS = {"printer", "scanner", "simulated", "serial_relay", "gpio"}


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_TAGS or part.startswith("function-"):
            # pydantic puts the discriminator's value in the location; the file has no such key.
            continue
        else:
            path += f".{part}" if path else part
    return path


def _describe(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "union_tag_invalid":
        expected = error["ctx"]["expected_tags"]
        message = f"unknown kind {error['input'].get('kind')!r} (expected {expected})"
    elif error["type"] == "union_tag_not_found":
        message = "'kind' is missing"
    return message


def parse_config(
    text: str, *, source: str = "line.toml", base_dir: Path | None = None
) -> LineConfig:
    """Parse a configuration from TOML text; relative paths are resolved against ``base_dir``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{source}: not valid TOML: arrays or tables nested too deeply") from exc
    try:
        config = LineConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{source}: {_key_path(e['loc']) or '(top level)'}: {_describe(e)}"
            for e in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from exc
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    return config


def _resolve_paths(config: LineConfig, base: Path) -> LineConfig:
    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    def resolve_template(path: Path) -> Path:
        return resolve(builtin_or_path(path))

    outbox = config.outbox.model_copy(update={"path": resolve(config.outbox.path)})
    templates = {k: resolve_template(v) for k, v in config.labels.templates.items()}
    labels = LabelsSection(templates=templates)
    return config.model_copy(update={"outbox": outbox, "labels": labels})


def load_config(path: str | Path) -> LineConfig:
    """Load and validate a line configuration file.

    Raises :class:`ConfigError` with one line per problem, each naming the file and key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 (byte {exc.start})") from exc
    return parse_config(text, source=path.name, base_dir=path.parent)
