"""Pick a scanner driver by URL.

::

    serial:///dev/ttyACM0?baud=115200&terminator=cr&aim=required
    tcp://10.0.0.7:2001                   (we connect to a fixed-mount reader)
    tcp-listen://0.0.0.0:2001             (the reader connects to us)
    hid:///dev/input/event3?layout=fr&gs=~
    camera://0?mode=trigger&decoder=pyzbar&symbologies=qr,gs1-128
    camera:///srv/videos/line1.mp4
    camera+rtsp://10.0.0.9/stream1

Options common to line scanners: ``terminator`` (``crlf``, ``cr``, ``lf``), ``aim``
(``auto``, ``required``, ``none``), ``symbology`` (assumed when the reader sends no AIM
prefix, e.g. ``]d2``), ``max_length``. Errors are :class:`ConfigError` naming the URL
and the bad option.

>>> open_scanner("tcp://127.0.0.1:2001", "verify-1").url
'tcp://127.0.0.1:2001'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit

from edge.drivers import open_transport
from edge.scanners.base import Scanner
from edge.scanners.camera import (
    CameraScanner,
    CaptureMode,
    FrameDecoder,
    OpenCVSource,
    PyzbarDecoder,
    Symbology,
    ZxingDecoder,
)
from edge.scanners.hid import LAYOUTS, HidScanner, KeycodeDecoder, evdev_source
from edge.scanners.read import ReadStamper
from edge.scanners.stream import ListeningScanner, StreamScanner
from lineside.codecs.framing import AimMode
from lineside.errors import ConfigError

TERMINATORS = {"crlf": b"\r\n", "cr": b"\r", "lf": b"\n"}
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")
_LINE_OPTIONS = frozenset({"terminator", "aim", "symbology", "max_length"})


def _bad(url: str, part: str, expected: str) -> ConfigError:
    return ConfigError(f"scanner URL {url!r}: {part}; expected {expected}")


def _split_options(
    url: str, query: str, ours: frozenset[str]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    mine: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in ours:
            if key in mine:
                raise _bad(url, f"option {key!r} given twice", "it once")
            mine[key] = value
        else:
            rest.append((key, value))
    return mine, rest


def _choice(url: str, key: str, value: str, choices: dict[str, object] | list[str]) -> str:
    if value not in choices:
        raise _bad(url, f"{key}={value!r} is not known", f"{key}=" + "|".join(choices))
    return value


def _int(url: str, key: str, value: str, minimum: int = 1) -> int:
    if not value.isdigit() or int(value) < minimum:
        raise _bad(url, f"{key}={value!r} is not a whole number >= {minimum}", f"{key}=<n>")
    return int(value)


def _stamper(url: str, device_id: str, opts: dict[str, str]) -> ReadStamper:
    aim = AimMode(_choice(url, "aim", opts.get("aim", "auto"), [m.value for m in AimMode]))
    symbology = opts.get("symbology") or None
    if symbology is not None and not _AIM_ID.fullmatch(symbology):
        raise _bad(url, f"symbology={symbology!r} is not an AIM identifier", "e.g. ]d2")
    return ReadStamper(device_id, aim=aim, default_symbology=symbology)


def _line_settings(url: str, opts: dict[str, str]) -> tuple[bytes, int]:
    terminator = TERMINATORS[
        _choice(url, "terminator", opts.get("terminator", "crlf"), list(TERMINATORS))
    ]
    max_length = _int(url, "max_length", opts.get("max_length", "4096"))
    return terminator, max_length


def _no_rest(url: str, rest: list[tuple[str, str]], allowed: frozenset[str]) -> None:
    if rest:
        raise _bad(url, f"unknown option {rest[0][0]!r}", "one of " + ", ".join(sorted(allowed)))


def open_scanner(url: str, device_id: str) -> Scanner:
    """Build the scanner ``url`` names (not yet reading: iterate its ``reads()``).

    >>> open_scanner("lpt://1", "x")
    Traceback (most recent call last):
    ...
    lineside.errors.ConfigError: scanner URL 'lpt://1': scheme 'lpt' is not supported; \
expected serial, tcp, tcp-listen, hid, camera or camera+rtsp
    """
    if "://" not in url:
        raise _bad(url, "no scheme", "e.g. serial:///dev/ttyACM0 or tcp://host:port")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("serial", "tcp"):
        opts, rest = _split_options(url, parts.query, _LINE_OPTIONS)
        terminator, max_length = _line_settings(url, opts)
        # Rebuilt by hand: urlunsplit would turn serial:///dev/x into serial:/dev/x.
        transport_url = url.split("?", 1)[0] + (f"?{urlencode(rest)}" if rest else "")
        open_transport(transport_url)  # validate now: a bad URL is a config error, not a retry
        return StreamScanner(
            device_id,
            url,
            lambda: open_transport(transport_url),
            stamper=_stamper(url, device_id, opts),
            terminator=terminator,
            max_length=max_length,
        )
    if scheme == "tcp-listen":
        opts, rest = _split_options(url, parts.query, _LINE_OPTIONS)
        _no_rest(url, rest, _LINE_OPTIONS)
        terminator, max_length = _line_settings(url, opts)
        host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError as exc:
            raise _bad(
                url, "the port is not a number 0-65535", "tcp-listen://0.0.0.0:2001"
            ) from exc
        if not host or port is None:
            raise _bad(url, "host or port missing", "tcp-listen://0.0.0.0:2001")
        return ListeningScanner(
            device_id,
            url,
            host,
            port,
            stamper=_stamper(url, device_id, opts),
            terminator=terminator,
            max_length=max_length,
        )
    if scheme == "hid":
        allowed = _LINE_OPTIONS | {"layout", "gs", "grab"}
        opts, rest = _split_options(url, parts.query, allowed)
        _no_rest(url, rest, allowed)
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/dev/"):
            raise _bad(url, "the device path is missing", "hid:///dev/input/event3")
        layout = LAYOUTS[_choice(url, "layout", opts.get("layout", "us"), list(LAYOUTS))]
        gs = opts.get("gs") or None
        if gs is not None and len(gs) != 1:
            raise _bad(url, f"gs={gs!r} is not one character", "e.g. gs=~")
        grab = _choice(url, "grab", opts.get("grab", "1"), ["0", "1"]) == "1"
        _, max_length = _line_settings(url, opts)

        def decoder() -> KeycodeDecoder:
            return KeycodeDecoder(layout, gs_substitute=gs, max_length=max_length)

        return HidScanner(
            device_id,
            url,
            evdev_source(path, grab=grab),
            decoder_factory=decoder,
            stamper=_stamper(url, device_id, opts),
        )
    if scheme in ("camera", "camera+rtsp"):
        return _camera(url, device_id, scheme, parts)
    raise _bad(
        url,
        f"scheme {scheme!r} is not supported",
        "serial, tcp, tcp-listen, hid, camera or camera+rtsp",
    )


def _camera(url: str, device_id: str, scheme: str, parts: SplitResult) -> CameraScanner:
    netloc, path, query = parts.netloc, parts.path, parts.query
    allowed = frozenset({"mode", "decoder", "symbologies", "release", "symbology"})
    opts, rest = _split_options(url, query, allowed)
    source: int | str
    if scheme == "camera+rtsp":
        source = f"rtsp://{netloc}{path}" + (f"?{urlencode(rest)}" if rest else "")
    else:
        _no_rest(url, rest, allowed)
        if netloc:
            if not netloc.isdigit():
                raise _bad(url, f"camera index {netloc!r} is not a number", "camera://0")
            source = int(netloc)
        elif path and path != "/":
            source = unquote(path)
        else:
            raise _bad(url, "no camera index or file", "camera://0 or camera:///path/video.mp4")
    mode = CaptureMode(
        _choice(url, "mode", opts.get("mode", "continuous"), [m.value for m in CaptureMode])
    )
    wanted = opts.get("symbologies", ",".join(s.value for s in Symbology)).split(",")
    symbologies = [
        Symbology(_choice(url, "symbologies", s, [m.value for m in Symbology])) for s in wanted
    ]
    decoder_name = _choice(url, "decoder", opts.get("decoder", "zxing"), ["zxing", "pyzbar"])
    decoder_factory: Callable[[], FrameDecoder]
    if decoder_name == "pyzbar":
        checked = PyzbarDecoder()  # fails now, clearly, when libzbar0 is missing
        decoder_factory = lambda: checked  # noqa: E731
    else:
        decoder_factory = lambda: ZxingDecoder(symbologies)  # noqa: E731
    return CameraScanner(
        device_id,
        url,
        lambda: OpenCVSource(source),
        decoder_factory=decoder_factory,
        mode=mode,
        release_frames=_int(url, "release", opts.get("release", "3")),
        stamper=_stamper(url, device_id, opts),
    )
