"""One grammar for the URLs that name a device's link: printers' transports and scanners.

::

    scheme://[authority][/path][?option=value&option=value]

A device URL has a scheme followed by ``//``, then an authority (``host:port``, a USB
``VID:PID``, a CUPS queue, a camera index) and/or a path (``serial:///dev/ttyUSB0`` has
no authority, hence three slashes), then options in the query, each given once. It has
no fragment. Each kind of device says which schemes it accepts and which options each
scheme takes (:mod:`edge.drivers.url` for printer transports, :mod:`edge.scanners.urls`
for scanners); this module splits the URL, reads the options and names what is wrong,
the same way for every kind:
``<kind> URL '<url>': <what is wrong>; expected <what would be right>``.

>>> TRANSPORT = DeviceKind("transport", {"tcp": "tcp://host:9100"})
>>> url = parse_device_url("tcp://10.0.0.5:9100", TRANSPORT)
>>> url.scheme, url.host_port()
('tcp', ('10.0.0.5', 9100))
>>> parse_device_url("tcp:/10.0.0.5:9100", TRANSPORT)
Traceback (most recent call last):
...
edge.device_url.DeviceUrlError: transport URL 'tcp:/10.0.0.5:9100': missing '//' after \
'tcp:'; expected tcp://host:9100
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from lineside.errors import ConfigError

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_YES = frozenset({"1", "true", "yes", "on"})
_NO = frozenset({"0", "false", "no", "off"})


class DeviceUrlError(ConfigError):
    """A device URL is wrong; :attr:`problem` says what and what was expected.

    The message names the URL too; a configuration file that already names the key
    shows only the problem.
    """

    def __init__(self, kind: str, url: str, problem: str) -> None:
        super().__init__(f"{kind} URL {url!r}: {problem}" if url else f"{kind} URL {problem}")
        self.url = url
        self.problem = problem


@dataclass(frozen=True, slots=True)
class DeviceKind:
    """A kind of device URL: its name in messages and an example for each scheme it accepts."""

    name: str
    examples: Mapping[str, str]

    @property
    def schemes(self) -> tuple[str, ...]:
        return tuple(self.examples)

    def error(self, url: str, part: str, expected: str) -> DeviceUrlError:
        return DeviceUrlError(self.name, url, f"{part}; expected {expected}")


@dataclass(frozen=True, slots=True)
class DeviceUrl:
    """A device URL split by the grammar; ``netloc``, ``path`` and ``query`` as written."""

    url: str
    kind: DeviceKind
    scheme: str
    netloc: str
    path: str
    query: str

    @property
    def example(self) -> str:
        """How a URL of this scheme looks, for messages."""
        return self.kind.examples[self.scheme]

    @property
    def decoded_path(self) -> str:
        return unquote(self.path)

    def error(self, part: str, expected: str | None = None) -> DeviceUrlError:
        """A :class:`DeviceUrlError` naming this URL, ``part`` and what was expected."""
        return self.kind.error(self.url, part, expected or self.example)

    def host_port(self, *, lowest_port: int = 1) -> tuple[str, int]:
        """The ``host:port`` authority; an IPv6 host is written in brackets.

        >>> parse_device_url("tcp://[::1]:0", DeviceKind("x", {"tcp": "tcp://h:1"})).host_port(
        ...     lowest_port=0
        ... )
        ('::1', 0)
        """
        host, sep, port_text = self.netloc.rpartition(":")
        if not sep or not host:
            if self.netloc and not sep:
                raise self.error("the port is missing")
            raise self.error("the host is missing")
        if not port_text.isdigit() or not lowest_port <= int(port_text) <= 65535:
            raise self.error(f"port {port_text!r} is not a number from {lowest_port} to 65535")
        return host.strip("[]"), int(port_text)

    def options(self) -> UrlOptions:
        """The query's options, read one by one (see :class:`UrlOptions`)."""
        if not self.query:
            return UrlOptions(self, {})
        try:
            pairs = parse_qsl(self.query, keep_blank_values=True, strict_parsing=True)
        except ValueError as exc:
            raise self.error(
                f"query {self.query!r} is malformed", "key=value pairs joined by '&'"
            ) from exc
        values: dict[str, list[str]] = {}
        for key, value in pairs:
            values.setdefault(key, []).append(value)
        for key, given in values.items():
            if len(given) != 1:
                raise self.error(f"option {key!r} given {len(given)} times", "it once")
        return UrlOptions(self, {key: given[0] for key, given in values.items()})

    def without_options(self, names: Collection[str]) -> str:
        """This URL with the options ``names`` left out, the others exactly as written.

        A scanner on a serial line or a TCP socket reads its own options (framing) and
        hands the rest, with the link, to the transport.

        >>> kind = DeviceKind("scanner", {"serial": "serial:///dev/ttyACM0"})
        >>> parse_device_url("serial:///dev/ttyACM0?baud=9600&aim=none", kind).without_options(
        ...     {"aim"}
        ... )
        'serial:///dev/ttyACM0?baud=9600'
        """
        kept = self.query_without(names)
        base = self.url.split("?", 1)[0]
        return base + ("?" + kept if kept else "")

    def query_without(self, names: Collection[str]) -> str:
        """The query with the options ``names`` left out, the others exactly as written."""
        return "&".join(
            pair
            for pair in self.query.split("&")
            if pair and unquote(pair.partition("=")[0]) not in names
        )


@dataclass(slots=True)
class UrlOptions:
    """The options of one device URL, each read through a typed getter that checks it.

    The getters remember which options the scheme knows, so :meth:`finish` can name an
    option nobody asked for, with the ones that would have been understood.

    >>> kind = DeviceKind("transport", {"serial": "serial:///dev/ttyUSB0"})
    >>> options = parse_device_url("serial:///dev/ttyS0?baud=19200", kind).options()
    >>> options.integer("baud", 9600, choices={9600, 19200})
    19200
    >>> options.flag("rtscts", False)
    False
    >>> options.finish()
    """

    device: DeviceUrl
    values: dict[str, str]
    known: set[str] = field(default_factory=set)

    def text(self, name: str, default: str) -> str:
        self.known.add(name)
        return self.values.get(name, default)

    def optional(self, name: str) -> str | None:
        """The option's value, or ``None`` when it is absent or empty."""
        self.known.add(name)
        return self.values.get(name) or None

    def choice(
        self, name: str, default: str, choices: Sequence[str], *, fold_case: bool = False
    ) -> str:
        """One of ``choices`` (compared in upper case with ``fold_case``)."""
        value = self.text(name, default)
        if fold_case:
            value = value.upper()
        if value not in choices:
            raise self.device.error(
                f"{name}={value!r} is not known", f"{name}=" + "|".join(choices)
            )
        return value

    def choices(self, name: str, default: Sequence[str], choices: Sequence[str]) -> list[str]:
        """A comma-separated list, each item one of ``choices``."""
        raw = self.values.get(name)
        self.known.add(name)
        items = list(default) if raw is None else raw.split(",")
        for item in items:
            if item not in choices:
                raise self.device.error(
                    f"{name}={item!r} is not known", f"{name}=" + "|".join(choices)
                )
        return items

    def integer(
        self,
        name: str,
        default: int,
        *,
        minimum: int = 0,
        choices: Collection[int] | None = None,
    ) -> int:
        """A whole number, at least ``minimum``, one of ``choices`` if given."""
        value = self.text(name, str(default))
        if not value.isdigit() or int(value) < minimum:
            at_least = f" >= {minimum}" if minimum else ""
            raise self.device.error(
                f"{name}={value!r} is not a whole number{at_least}", f"{name}=<digits>"
            )
        number = int(value)
        if choices is not None and number not in choices:
            allowed = ", ".join(str(c) for c in sorted(choices))
            raise self.device.error(f"{name}={number} is not supported", f"one of {allowed}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        """A yes/no option: ``1``, ``true``, ``yes``, ``on``; ``0``, ``false``, ``no``, ``off``."""
        value = self.text(name, "1" if default else "0")
        if value.lower() in _YES:
            return True
        if value.lower() in _NO:
            return False
        raise self.device.error(f"{name}={value!r} is not a yes/no value", f"{name}=0 or {name}=1")

    def finish(self) -> None:
        """Refuse the first option no getter asked for."""
        unknown = [name for name in self.values if name not in self.known]
        if not unknown:
            return
        if not self.known:
            raise self.device.error(f"query {self.device.query!r} is not allowed")
        raise self.device.error(
            f"unknown option {unknown[0]!r}", "one of " + ", ".join(sorted(self.known))
        )


def parse_device_url(url: str, kind: DeviceKind) -> DeviceUrl:
    """Split ``url`` by the grammar, refusing a scheme ``kind`` does not accept.

    >>> SCANNER = DeviceKind("scanner", {"hid": "hid:///dev/input/event3"})
    >>> parse_device_url("lpt://1", SCANNER)
    Traceback (most recent call last):
    ...
    edge.device_url.DeviceUrlError: scanner URL 'lpt://1': scheme 'lpt' is not supported; \
expected one of hid
    """
    if not isinstance(url, str) or not url:
        first = next(iter(kind.examples.values()))
        raise DeviceUrlError(kind.name, "", f"is empty; expected e.g. {first}")
    if url != url.strip():
        raise kind.error(url, "space before or after the URL", "the URL alone")
    control = next((c for c in url if ord(c) < 32 or ord(c) == 127), None)
    if control is not None:
        # urlsplit would drop a tab or a line break silently and parse another URL.
        raise kind.error(url, f"control character {control!r} in the URL", "printable text")
    prefix = _SCHEME.match(url)
    scheme = prefix.group(1).lower() if prefix else ""
    if prefix is None or not url[prefix.end() :].startswith("//"):
        if scheme in kind.examples:
            raise kind.error(url, f"missing '//' after '{scheme}:'", kind.examples[scheme])
        raise kind.error(
            url, "no scheme", "scheme://... with a scheme of " + ", ".join(kind.schemes)
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "tcp://[::1" (unclosed IPv6 bracket), "tcp://[]"
        raise kind.error(url, str(exc), "a well-formed URL") from exc
    if "#" in url:
        fragment = url.partition("#")[2]
        raise kind.error(url, f"fragment {fragment!r} is not allowed", "no '#' in the URL")
    if scheme not in kind.examples:
        raise kind.error(
            url, f"scheme {scheme!r} is not supported", "one of " + ", ".join(kind.schemes)
        )
    return DeviceUrl(url, kind, scheme, parts.netloc, parts.path, parts.query)
