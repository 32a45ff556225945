"""Scanner URLs: what each scheme means, parsed into a spec, and the driver it opens.

::

    serial:///dev/ttyACM0?baud=115200&terminator=cr&aim=required
    tcp://10.0.0.7:2001                   (we connect to a fixed-mount reader)
    tcp-listen://0.0.0.0:2001             (the reader connects to us)
    hid:///dev/input/event3?layout=fr&gs=~
    camera://0?mode=trigger&decoder=pyzbar&symbologies=qr,gs1-128
    camera://0?grade=1                    (grade the print quality of every read)
    camera://0?roi=0,240,1280,320&rotate=0&binarizer=global&tilt=10
    camera:///srv/videos/line1.mp4
    camera+rtsp://10.0.0.9/stream1

Options common to line scanners: ``terminator`` (``crlf``, ``cr``, ``lf``), ``aim``
(``auto``, ``required``, ``none``), ``symbology`` (assumed when the reader sends no AIM
prefix, e.g. ``]d2``), ``max_length``; a serial scanner also takes the serial line's
options (``baud``...). A camera's options: ``mode`` (``continuous``, ``trigger``),
``decoder`` (``zxing``, ``pyzbar``), ``symbologies`` (the formats looked for: ``datamatrix``,
``qr``, ``gs1-128``), ``release`` (frames a code must be gone to count again), ``grade``,
and from the line's geometry ``roi=x,y,width,height`` (the pixels where labels pass),
``rotate`` (the camera's mounting: 0, 90, 180 or 270 degrees clockwise that turn the bars
of a GS1-128 upright), ``binarizer`` (``local``, ``global``, ``fixed``; zxing only) and
``tilt`` (degrees, 0-45: re-scan a frame that gave nothing with the view turned that much
each way, for GS1-128 twisted on the belt); see docs/deploy.md, "Tuning a verify camera".
The grammar, the option rules and the error messages are
:mod:`edge.device_url`'s, shared with the printers' transports; errors are
:class:`~lineside.errors.ConfigError` naming the URL and the bad option.
:func:`parse_scanner_url` only checks (a configuration is checked when it loads);
:func:`open_scanner` builds the driver.

>>> open_scanner("tcp://127.0.0.1:2001", "verify-1").url
'tcp://127.0.0.1:2001'
>>> parse_scanner_url("tcp:/127.0.0.1:9200")
Traceback (most recent call last):
...
edge.device_url.DeviceUrlError: scanner URL 'tcp:/127.0.0.1:9200': missing '//' after \
'tcp:'; expected tcp://host:port, e.g. tcp://10.0.0.7:2001
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from edge.device_url import DeviceKind, DeviceUrl, UrlOptions, parse_device_url
from edge.drivers import open_transport
from edge.drivers.url import transport_spec
from edge.scanners.base import Scanner
from edge.scanners.camera import (
    ROTATIONS,
    Binarizer,
    CameraScanner,
    CaptureMode,
    FrameDecoder,
    OpenCVSource,
    PyzbarDecoder,
    Symbology,
    View,
    ZxingDecoder,
)
from edge.scanners.hid import LAYOUTS, HidScanner, KeycodeDecoder, evdev_source
from edge.scanners.read import ReadStamper
from edge.scanners.stream import ListeningScanner, StreamScanner
from lineside.codecs.framing import AimMode

#: The URLs a scanner may have, with an example of each.
SCANNER_URLS = DeviceKind(
    "scanner",
    {
        "serial": "serial:///dev/ttyACM0 (three slashes)",
        "tcp": "tcp://host:port, e.g. tcp://10.0.0.7:2001",
        "tcp-listen": "tcp-listen://0.0.0.0:2001",
        "hid": "hid:///dev/input/event3",
        "camera": "camera://0 or camera:///path/video.mp4",
        "camera+rtsp": "camera+rtsp://host/stream",
    },
)

TERMINATORS = {"crlf": b"\r\n", "cr": b"\r", "lf": b"\n"}
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")
_LINE_OPTIONS = frozenset({"terminator", "aim", "symbology", "max_length"})
_CAMERA_OPTIONS = frozenset(
    {
        "mode",
        "decoder",
        "symbologies",
        "release",
        "symbology",
        "grade",
        "roi",
        "rotate",
        "binarizer",
        "tilt",
    }
)
_MAX_TILT = 45


@dataclass(frozen=True, slots=True)
class Reading:
    """How a scanner's reads are framed and stamped."""

    aim: AimMode = AimMode.AUTO
    #: The AIM identifier assumed when the reader sends none, e.g. ``]d2``.
    symbology: str | None = None
    terminator: bytes = b"\r\n"
    max_length: int = 4096

    def stamper(self, device_id: str) -> ReadStamper:
        return ReadStamper(device_id, aim=self.aim, default_symbology=self.symbology)


@dataclass(frozen=True, slots=True)
class StreamScannerSpec:
    """A reader on a serial line or a TCP socket we connect to."""

    url: str
    #: The transport's URL: this one without the scanner's own options.
    link_url: str
    reading: Reading


@dataclass(frozen=True, slots=True)
class ListeningScannerSpec:
    """A reader that connects to us."""

    url: str
    host: str
    port: int
    reading: Reading


@dataclass(frozen=True, slots=True)
class HidScannerSpec:
    """A USB-HID keyboard-wedge reader."""

    url: str
    path: str
    layout: str
    gs: str | None
    grab: bool
    reading: Reading


@dataclass(frozen=True, slots=True)
class CameraScannerSpec:
    """A camera (by index), a video file or an RTSP stream."""

    url: str
    source: int | str
    mode: CaptureMode
    symbologies: tuple[Symbology, ...]
    decoder: Literal["zxing", "pyzbar"]
    release_frames: int
    reading: Reading
    #: Grade the print quality of every read (zxing-cpp decoder only).
    grade: bool = False
    #: The region of interest and the camera's mounting.
    view: View = field(default_factory=View)
    binarizer: Binarizer = Binarizer.LOCAL
    #: Degrees each way a frame that gave nothing is re-scanned turned (0: never).
    tilt: int = 0


ScannerSpec = StreamScannerSpec | ListeningScannerSpec | HidScannerSpec | CameraScannerSpec


def _reading(options: UrlOptions) -> Reading:
    aim = AimMode(options.choice("aim", "auto", [m.value for m in AimMode]))
    symbology = options.optional("symbology")
    if symbology is not None and not _AIM_ID.fullmatch(symbology):
        raise options.device.error(
            f"symbology={symbology!r} is not an AIM identifier", "e.g. symbology=]d2"
        )
    terminator = TERMINATORS[options.choice("terminator", "crlf", list(TERMINATORS))]
    max_length = options.integer("max_length", 4096, minimum=1)
    return Reading(aim, symbology, terminator, max_length)


def _stream(device: DeviceUrl, options: UrlOptions) -> StreamScannerSpec:
    reading = _reading(options)
    transport_spec(device, options)  # the link's own options, checked now
    options.finish()
    return StreamScannerSpec(device.url, device.without_options(_LINE_OPTIONS), reading)


def _listening(device: DeviceUrl, options: UrlOptions) -> ListeningScannerSpec:
    reading = _reading(options)
    options.finish()
    host, port = device.host_port(lowest_port=0)
    return ListeningScannerSpec(device.url, host, port, reading)


def _hid(device: DeviceUrl, options: UrlOptions) -> HidScannerSpec:
    reading = _reading(options)
    layout = options.choice("layout", "us", list(LAYOUTS))
    gs = options.optional("gs")
    if gs is not None and len(gs) != 1:
        raise device.error(f"gs={gs!r} is not one character", "e.g. gs=~")
    grab = options.flag("grab", True)
    options.finish()
    if device.netloc or not device.decoded_path.startswith("/dev/"):
        raise device.error("the device path is missing")
    return HidScannerSpec(device.url, device.decoded_path, layout, gs, grab, reading)


def _camera(device: DeviceUrl, options: UrlOptions) -> CameraScannerSpec:
    aim_id = options.optional("symbology")
    if aim_id is not None and not _AIM_ID.fullmatch(aim_id):
        raise device.error(f"symbology={aim_id!r} is not an AIM identifier", "e.g. symbology=]d2")
    mode = CaptureMode(options.choice("mode", "continuous", [m.value for m in CaptureMode]))
    every = [s.value for s in Symbology]
    symbologies = tuple(Symbology(s) for s in options.choices("symbologies", every, every))
    decoder: Literal["zxing", "pyzbar"] = (
        "pyzbar" if options.choice("decoder", "zxing", ["zxing", "pyzbar"]) == "pyzbar" else "zxing"
    )
    release = options.integer("release", 3, minimum=1)
    grade = options.flag("grade", False)
    if grade and decoder == "pyzbar":
        raise device.error("grade=1 needs the zxing decoder")
    view = View(_roi(device, options.optional("roi")), _rotate(device, options))
    binarizer = Binarizer(options.choice("binarizer", "local", [b.value for b in Binarizer]))
    if binarizer is not Binarizer.LOCAL and decoder == "pyzbar":
        raise device.error(f"binarizer={binarizer.value} needs the zxing decoder")
    tilt = options.integer("tilt", 0)
    if tilt > _MAX_TILT:
        raise device.error(f"tilt={tilt} is more than {_MAX_TILT} degrees", "e.g. tilt=10")
    if tilt and decoder == "pyzbar":
        raise device.error(f"tilt={tilt} needs the zxing decoder")
    if tilt and Symbology.GS1_128 not in symbologies:
        raise device.error(
            f"tilt={tilt} re-scans for GS1-128, which symbologies= leaves out",
            "symbologies including gs1-128, or no tilt",
        )
    source: int | str
    if device.scheme == "camera+rtsp":
        # Options the camera does not know belong to the stream's own URL.
        rest = device.query_without(_CAMERA_OPTIONS)
        source = f"rtsp://{device.netloc}{device.path}" + (f"?{rest}" if rest else "")
    else:
        options.finish()
        if device.netloc:
            if not device.netloc.isdigit():
                raise device.error(f"camera index {device.netloc!r} is not a number")
            source = int(device.netloc)
        elif device.path not in ("", "/"):
            source = device.decoded_path
        else:
            raise device.error("no camera index or file")
    reading = Reading(symbology=aim_id)
    return CameraScannerSpec(
        device.url,
        source,
        mode,
        symbologies,
        decoder,
        release,
        reading,
        grade,
        view,
        binarizer,
        tilt,
    )


def _roi(device: DeviceUrl, value: str | None) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise device.error(
            f"roi={value!r} is not x,y,width,height in whole pixels", "e.g. roi=0,240,1280,320"
        )
    x, y, width, height = (int(p) for p in parts)
    if width < 1 or height < 1:
        raise device.error(f"roi={value!r} is empty", "a width and a height of at least 1 pixel")
    return x, y, width, height


def _rotate(device: DeviceUrl, options: UrlOptions) -> int | None:
    if options.optional("rotate") is None:
        return None
    return options.integer("rotate", 0, choices=ROTATIONS)


_PARSERS: dict[str, Callable[[DeviceUrl, UrlOptions], ScannerSpec]] = {
    "serial": _stream,
    "tcp": _stream,
    "tcp-listen": _listening,
    "hid": _hid,
    "camera": _camera,
    "camera+rtsp": _camera,
}


def parse_scanner_url(url: str) -> ScannerSpec:
    """Check ``url`` and describe the scanner it names (nothing is opened).

    >>> parse_scanner_url("lpt://1")
    Traceback (most recent call last):
    ...
    edge.device_url.DeviceUrlError: scanner URL 'lpt://1': scheme 'lpt' is not supported; \
expected one of serial, tcp, tcp-listen, hid, camera, camera+rtsp
    """
    device = parse_device_url(url, SCANNER_URLS)
    return _PARSERS[device.scheme](device, device.options())


def open_scanner(url: str, device_id: str) -> Scanner:
    """Build the scanner ``url`` names (not yet reading: iterate its ``reads()``)."""
    spec = parse_scanner_url(url)
    stamper = spec.reading.stamper(device_id)
    match spec:
        case StreamScannerSpec():
            link = spec.link_url
            return StreamScanner(
                device_id,
                url,
                lambda: open_transport(link),
                stamper=stamper,
                terminator=spec.reading.terminator,
                max_length=spec.reading.max_length,
            )
        case ListeningScannerSpec():
            return ListeningScanner(
                device_id,
                url,
                spec.host,
                spec.port,
                stamper=stamper,
                terminator=spec.reading.terminator,
                max_length=spec.reading.max_length,
            )
        case HidScannerSpec():
            return _open_hid(spec, device_id, stamper)
        case CameraScannerSpec():
            return _open_camera(spec, device_id, stamper)


def _open_hid(spec: HidScannerSpec, device_id: str, stamper: ReadStamper) -> HidScanner:
    layout = LAYOUTS[spec.layout]

    def decoder() -> KeycodeDecoder:
        return KeycodeDecoder(layout, gs_substitute=spec.gs, max_length=spec.reading.max_length)

    return HidScanner(
        device_id,
        spec.url,
        evdev_source(spec.path, grab=spec.grab),
        decoder_factory=decoder,
        stamper=stamper,
    )


def _open_camera(spec: CameraScannerSpec, device_id: str, stamper: ReadStamper) -> CameraScanner:
    decoder_factory: Callable[[], FrameDecoder]
    decoder_factory = camera_decoder(spec)
    source = spec.source
    return CameraScanner(
        device_id,
        spec.url,
        lambda: OpenCVSource(source),
        decoder_factory=decoder_factory,
        mode=spec.mode,
        release_frames=spec.release_frames,
        stamper=stamper,
    )


def camera_decoder(spec: CameraScannerSpec) -> Callable[[], FrameDecoder]:
    """What builds the decoder ``spec`` describes (in the camera's worker thread).

    Raises :class:`~lineside.errors.DeviceError` now, clearly, when ``decoder=pyzbar``
    and libzbar0 is missing.
    """
    if spec.decoder == "pyzbar":
        checked = PyzbarDecoder(view=spec.view)
        return lambda: checked
    return lambda: ZxingDecoder(
        spec.symbologies,
        grade=spec.grade,
        view=spec.view,
        binarizer=spec.binarizer,
        tilt=spec.tilt,
    )
