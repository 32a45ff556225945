"""``edge check-config``: everything ``edge run`` would refuse, found at once.

:func:`load_config` validates the file's shape (keys, types, URLs, check digits) and lists
every such problem. ``edge run`` then needs more than a valid shape: the label templates
its printers use must exist and compile, the secrets it names must be readable, the
devices it drives must include a unit printer and a verify scanner, and the journal's
directory must be writable. :func:`check_config` looks at all of it, from the raw file
too, so one run lists every problem with its key path, whatever else is wrong. Unless
the file is a demo, it also refuses what must not reach a real line (:func:`production_problems`:
the demo PIN, a PIN anyone would try, a password written into a URL), and every
configured label template, filled with sample data, must pass its preflight.

>>> from pathlib import Path
>>> problems = check_config(Path("no-such-line.toml"))
>>> problems[0].startswith("no-such-line.toml: cannot read")
True
>>> from edge.config import hash_pin
>>> weak_pin(hash_pin("2468", salt=bytes(16)))
'2468'
>>> url_secret("mqtts://factory-1.L1:secret@broker.example.vn:8883")
'a password in the URL'
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from edge.config import LineConfig, load_config, verify_pin
from edge.labels import config_label_problems
from edge.printers.templates import builtin_or_path, load_template
from lineside.errors import ConfigError

#: The template each printer role prints with (``[labels.templates]`` names).
TEMPLATE_OF_ROLE = {"unit_printer": "unit", "case_printer": "case"}
SECRETS = (("broker", "username"), ("broker", "password"), ("server", "token"),
           ("server", "password"))  # fmt: skip


def _table(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _secret_problems(data: dict[str, Any], base: Path) -> Iterator[tuple[str, str]]:
    for section, name in SECRETS:
        secret = _table(data, section).get(name)
        if not isinstance(secret, dict):
            continue
        env, file = secret.get("env"), secret.get("file")
        if isinstance(env, str) and env in os.environ:
            if not os.environ[env]:
                yield f"{section}.{name}.env", f"environment variable {env} is empty"
            continue
        if isinstance(file, str):
            path = Path(file) if Path(file).is_absolute() else base / file
            try:
                if not path.read_text(encoding="utf-8").strip():
                    yield f"{section}.{name}.file", f"{path} is empty"
            except OSError as exc:
                yield f"{section}.{name}.file", f"cannot read {path}: {exc.strerror}"
        elif isinstance(env, str):
            yield f"{section}.{name}.env", f"environment variable {env} is not set"


def _template_problems(data: dict[str, Any], base: Path) -> Iterator[tuple[str, str]]:
    templates = _table(_table(data, "labels"), "templates")
    devices = data.get("devices")
    languages: dict[str, str] = {}
    for index, device in enumerate(devices if isinstance(devices, list) else []):
        role = device.get("role") if isinstance(device, dict) else None
        name = TEMPLATE_OF_ROLE.get(str(role))
        if name is None or not isinstance(device, dict):
            continue
        languages[name] = str(device.get("language", "zpl"))
        if name not in templates:
            yield (
                "labels.templates",
                f"no template named {name!r}, which devices[{index}] ({role}) prints with",
            )
    for name, raw in templates.items():
        if not isinstance(raw, str):
            continue
        path = builtin_or_path(raw)
        path = path if path.is_absolute() else base / path
        if not path.exists():
            yield f"labels.templates.{name}", f"{path}: no such file"
            continue
        try:
            template = load_template(path)
        except ConfigError as exc:
            yield f"labels.templates.{name}", str(exc)
            continue
        kind = "zpl" if type(template).__name__.startswith("Zpl") else "escpos"
        wanted = languages.get(name)
        if wanted is not None and wanted != kind:
            yield (
                f"labels.templates.{name}",
                f"{path.name} is a {kind} template but its printer speaks {wanted}",
            )


def _device_problems(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    devices = data.get("devices")
    listed = devices if isinstance(devices, list) else []
    roles = [d.get("role") for d in listed if isinstance(d, dict)]
    for role in ("unit_printer", "verify_scanner"):
        if role not in roles:
            yield "devices", f"no device with role {role!r}: edge run needs one"
    if "case_scanner" in roles and "case_printer" not in roles:
        yield "devices", "a case_scanner needs a case_printer whose labels it verifies"


def _path_problems(data: dict[str, Any], base: Path) -> Iterator[tuple[str, str]]:
    journal = _table(data, "outbox").get("path")
    if isinstance(journal, str):
        folder = (Path(journal) if Path(journal).is_absolute() else base / journal).parent
        if not folder.is_dir():
            yield "outbox.path", f"directory {folder} does not exist"
        elif not os.access(folder, os.W_OK):
            yield "outbox.path", f"directory {folder} is not writable by this user"
    reject = _table(data, "reject")
    if reject.get("kind") == "gpio" and isinstance(reject.get("value_path"), str):
        value = Path(reject["value_path"])
        if not value.exists():
            yield "reject.value_path", f"{value} does not exist (is the GPIO exported?)"


#: The demo PIN of the guides and the demo, then PINs anyone tries first.
DEMO_PINS = ("2468",)
GUESSED_PINS = ("1234", "0000", "1111", "123456", "000000")
#: Query parameters that carry a secret in a device URL.
SECRET_PARAMETERS = frozenset({"password", "passwd", "pass", "pwd", "secret", "token", "key"})


def weak_pin(pin_hash: str) -> str | None:
    """The demo or guessable PIN this hash is of, or ``None``."""
    return next((pin for pin in DEMO_PINS + GUESSED_PINS if verify_pin(pin, pin_hash)), None)


def url_secret(url: str) -> str | None:
    """What secret ``url`` carries inline (said without the secret), or ``None``."""
    parts = urlsplit(url)
    if parts.password:
        return "a password in the URL"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in SECRET_PARAMETERS and value:
            return f"a secret in the URL's {name!r} parameter"
    return None


def production_problems(config: LineConfig, source: str) -> list[str]:
    """One line per problem, each naming the file and key, like :func:`load_config`."""
    problems: list[str] = []
    for index, operator in enumerate(config.operators):
        pin = weak_pin(operator.pin_hash)
        if pin is not None:
            what = "the demo PIN" if pin in DEMO_PINS else "a PIN anyone would try"
            problems.append(
                f"{source}: operators[{index}].pin_hash: is the hash of {what} ({pin}); "
                "make one with 'lineside edge hash-pin'"
            )
    urls = [("broker.url", config.broker.url)]
    if config.server is not None:
        urls.append(("server.url", config.server.url))
    urls += [(f"devices[{i}].url", device.url) for i, device in enumerate(config.devices)]
    reject_url = getattr(config.reject, "url", None)
    if isinstance(reject_url, str):
        urls.append(("reject.url", reject_url))
    for key, url in urls:
        secret = url_secret(url)
        if secret is not None:
            problems.append(
                f"{source}: {key}: {secret}; put it in a file and name the file "
                '(e.g. password = { file = "/etc/lineside/credentials/..." })'
            )
    return problems


def check_config(path: Path, *, this_machine: bool = True, demo: bool = False) -> list[str]:
    """Every problem ``edge run`` would meet with the configuration at ``path``, each as
    ``file: key.path: what is wrong``; empty when there is none.

    ``this_machine`` also checks what the file needs from the machine it runs on: its
    secrets readable, the journal's directory writable, the reject GPIO exported.
    ``demo`` allows the demo PIN and passwords in URLs.
    """
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        try:
            load_config(path)
        except ConfigError as exc:
            return str(exc).splitlines()
        return []
    problems: list[str] = []
    config: LineConfig | None = None
    try:
        config = load_config(path)
    except ConfigError as exc:
        problems += str(exc).splitlines()
    base = path.parent
    templates = list(_template_problems(data, base))
    found = [*_device_problems(data), *templates]
    if this_machine:
        found += [*_secret_problems(data, base), *_path_problems(data, base)]
    for key, problem in found:
        line = f"{path.name}: {key}: {problem}"
        if line not in problems:
            problems.append(line)
    if config is not None:
        problems += [] if demo else production_problems(config, path.name)
        # The preflight of each template that loads (one that does not is listed above).
        broken = {key for key, _ in templates}
        problems += [
            f"{path.name}: {line}"
            for line in config_label_problems(config)
            if line.split(" ", 1)[0].rstrip(":") not in broken
        ]
    return problems
