"""Camera scanners: OpenCV capture in a worker thread, zxing-cpp (or pyzbar) decoding.

The capture and the decoding run in one worker thread so a slow decode never blocks
the event loop; reads are handed to the loop thread-safely. The same code seen in
consecutive frames is reported once (:class:`Deduplicator`). In trigger mode frames are
only decoded while armed by :meth:`CameraScanner.trigger` (a photo-eye, a PLC input).

Decoders: :class:`ZxingDecoder` (default; DataMatrix, QR, GS1-128 with AIM identifiers)
and :class:`PyzbarDecoder` (optional; no DataMatrix; needs the system library libzbar0).
Both decode a :class:`View` of each frame: grey, cut to the region of interest the line's
geometry gives (where the labels pass) and turned as the camera is mounted. A GS1-128
whose bars are tilted on the belt is found by re-scanning the view turned by a few degrees
each way (``tilt``) when a frame gave nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edge.scanners.base import SCANNER_BACKOFF, Scanner
from edge.scanners.read import ReadStamper, ScanEvent, ScannerState
from lineside.backoff import Backoff
from lineside.errors import ConfigError, DeviceError, TransportError

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class DecodedSymbol:
    """One symbol found in a frame: its AIM identifier and its bytes (GS kept)."""

    symbology: str
    data: bytes
    #: Print-quality grade and its lowest parameter, when the decoder grades; not part
    #: of the symbol's identity (the same code in the next frame is the same symbol).
    grade: str | None = field(default=None, compare=False)
    grade_parameter: str | None = field(default=None, compare=False)


class FrameDecoder(Protocol):
    """Finds the symbols in one BGR or grayscale frame."""

    name: str

    def decode(self, frame: Image) -> list[DecodedSymbol]:
        """Every symbol found, possibly none."""


class Symbology(StrEnum):
    """Symbologies a camera scanner looks for."""

    DATAMATRIX = "datamatrix"
    QR = "qr"
    GS1_128 = "gs1-128"


ALL_SYMBOLOGIES: tuple[Symbology, ...] = tuple(Symbology)


class Binarizer(StrEnum):
    """How zxing-cpp turns grey into black and white."""

    #: Local average (zxing-cpp's default): copes with uneven light, the slowest.
    LOCAL = "local"
    #: One histogram threshold per row (per frame for 2D symbols): several times faster,
    #: for a camera with its own even lighting.
    GLOBAL = "global"
    #: A fixed threshold at mid-grey: the fastest, for a well-exposed, even picture.
    FIXED = "fixed"


#: Rotations a camera can be mounted at, clockwise.
ROTATIONS = (0, 90, 180, 270)


@dataclass(frozen=True, slots=True)
class View:
    """The part of a frame that is decoded: grey, the region of interest, turned.

    ``roi`` is ``(x, y, width, height)`` in the camera's pixels, where the labels pass;
    a region reaching past the frame is cut at its edge. ``rotate`` (clockwise, one of
    :data:`ROTATIONS`) turns the region so a GS1-128's bars stand upright; ``None`` when
    the camera's mounting is not stated (the decoder then also searches turned symbols).

    >>> frame = np.zeros((720, 1280, 3), np.uint8)
    >>> View(roi=(100, 200, 640, 240), rotate=90).apply(frame).shape
    (640, 240)
    """

    roi: tuple[int, int, int, int] | None = None
    rotate: int | None = None

    def __post_init__(self) -> None:
        if self.roi is not None and (min(self.roi) < 0 or min(self.roi[2:]) < 1):
            raise ValueError(f"roi {self.roi}: x, y >= 0 and width, height >= 1 are needed")
        if self.rotate not in (None, *ROTATIONS):
            raise ValueError(f"rotate {self.rotate}: one of {ROTATIONS} is needed")

    def apply(self, frame: Image) -> Image:
        """The view of ``frame`` (BGR or grey), as a contiguous grey image.

        Raises :class:`DeviceError` when the region of interest misses the frame.
        """
        import cv2

        image = frame
        if self.roi is not None:
            x, y, width, height = self.roi
            image = frame[y : y + height, x : x + width]
            if image.size == 0:
                h, w = frame.shape[:2]
                raise DeviceError(
                    f"roi={x},{y},{width},{height} lies outside the camera's {w}x{h} frame"
                )
        if image.ndim == 3:
            image = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        if self.rotate in (90, 180, 270):
            codes = {
                90: cv2.ROTATE_90_CLOCKWISE,
                180: cv2.ROTATE_180,
                270: cv2.ROTATE_90_COUNTERCLOCKWISE,
            }
            image = np.asarray(cv2.rotate(image, codes[self.rotate]), dtype=np.uint8)
        return np.ascontiguousarray(image)


def tilted(image: Image, degrees: float) -> Image:
    """``image`` turned ``degrees`` counter-clockwise about its centre, same size; the
    corners uncovered are filled with the nearest edge (no dark wedge that looks like a bar).
    """
    import cv2

    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    turned = cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(turned, dtype=np.uint8)


class ZxingDecoder:
    """zxing-cpp, restricted to the symbologies a line uses; inverted symbols skipped.

    Each frame is decoded through ``view`` (:class:`View`) with ``binarizer``. With
    ``tilt`` (degrees), a frame that gave nothing is scanned again for GS1-128 with the
    view turned ``tilt`` degrees each way: a horizontal scan line crosses every bar of a
    tilted symbol only if the bars are tall enough, and labels do twist on a belt. With
    ``grade``, each symbol also gets its print-quality grade
    (:func:`edge.scanners.grading.grade_reads`), measured in the view it was read in.

    >>> ZxingDecoder().decode(np.full((50, 50), 255, np.uint8))
    []
    """

    name = "zxing-cpp"

    def __init__(
        self,
        symbologies: Iterable[Symbology] = ALL_SYMBOLOGIES,
        *,
        grade: bool = False,
        view: View | None = None,
        binarizer: Binarizer = Binarizer.LOCAL,
        tilt: int = 0,
    ) -> None:
        import zxingcpp

        self.grade = grade
        self.view = view or View()
        self.tilt = tilt
        # Grades of the symbols in the previous frame: a symbol in view is graded once.
        self._grades: dict[DecodedSymbol, DecodedSymbol] = {}

        names = {
            Symbology.DATAMATRIX: "DataMatrix",
            Symbology.QR: "QRCode",
            Symbology.GS1_128: "Code128",
        }
        chosen = list(dict.fromkeys(symbologies))
        if not chosen:
            raise ConfigError("camera decoder: at least one symbology is needed")
        if tilt and Symbology.GS1_128 not in chosen:
            raise ConfigError("camera decoder: tilt re-scans GS1-128, which is not looked for")
        if not 0 <= tilt <= 45:
            raise ConfigError(f"camera decoder: tilt {tilt} is not between 0 and 45 degrees")
        self._formats = zxingcpp.barcode_formats_from_str(",".join(names[s] for s in chosen))
        self._linear = zxingcpp.barcode_formats_from_str("Code128")
        binarizers = {
            Binarizer.LOCAL: zxingcpp.Binarizer.LocalAverage,
            Binarizer.GLOBAL: zxingcpp.Binarizer.GlobalHistogram,
            Binarizer.FIXED: zxingcpp.Binarizer.FixedThreshold,
        }
        self._options: dict[str, Any] = {
            "try_invert": False,
            "binarizer": binarizers[Binarizer(binarizer)],
            # A stated mounting: bars stand upright, no need to search them turned.
            "try_rotate": self.view.rotate is None,
        }
        self._read = zxingcpp.read_barcodes

    def _scan(self, frame: Image) -> tuple[Image, list[Any]]:
        """The image the symbols were found in, and zxing-cpp's results."""
        image = self.view.apply(frame)
        results = self._read(image, formats=self._formats, **self._options)
        if results or not self.tilt:
            return image, results
        for degrees in (self.tilt, -self.tilt):
            turned = tilted(image, degrees)
            results = self._read(turned, formats=self._linear, **self._options)
            if results:
                return turned, results
        return image, []

    def decode(self, frame: Image) -> list[DecodedSymbol]:
        image, results = self._scan(frame)
        symbols = [DecodedSymbol(str(r.symbology_identifier), bytes(r.bytes)) for r in results]
        if not self.grade:
            return symbols
        from edge.scanners.grading import grade_reads

        new = [(s, r) for s, r in zip(symbols, results, strict=True) if s not in self._grades]
        graded = grade_reads(image, [r for _, r in new]) if new else []
        for (symbol, _), grade in zip(new, graded, strict=True):
            worst = min(grade.parameters, key=lambda p: "FDCBA".index(p.grade))
            self._grades[symbol] = replace(symbol, grade=grade.grade, grade_parameter=worst.name)
        self._grades = {s: self._grades[s] for s in symbols}
        return [self._grades[s] for s in symbols]


class PyzbarDecoder:
    """pyzbar (ZBar): QR and Code 128 only; AIM identifiers are inferred.

    Raises :class:`DeviceError` at construction when pyzbar or libzbar0 is missing.
    """

    name = "pyzbar"

    def __init__(self, *, view: View | None = None) -> None:
        self.view = view or View()
        try:
            from pyzbar import pyzbar
        except ImportError as exc:
            raise DeviceError(
                f"the pyzbar decoder is unavailable ({exc}): install the system library "
                "libzbar0 (apt install libzbar0) and pip install 'lineside[zbar]'"
            ) from exc
        self._pyzbar: Any = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE, pyzbar.ZBarSymbol.CODE128]

    def decode(self, frame: Image) -> list[DecodedSymbol]:
        found: list[DecodedSymbol] = []
        image = self.view.apply(frame)
        for result in self._pyzbar.decode(image, symbols=self._symbols):
            data = bytes(result.data)
            if result.type == "QRCODE":
                found.append(DecodedSymbol("]Q1", data))
            elif data.startswith(b"\x1d"):
                # ZBar reports a leading FNC1 (GS1-128) as GS.
                found.append(DecodedSymbol("]C1", data[1:]))
            else:
                found.append(DecodedSymbol("]C0", data))
        return found


class Deduplicator:
    """Report a symbol once while it stays in view; sans-I/O.

    A symbol is reported again only after it has been absent for ``release_frames``
    consecutive frames (a unit that left and another with the same code came).

    >>> d = Deduplicator(release_frames=2)
    >>> s = DecodedSymbol("]Q1", b"x")
    >>> [len(d.update(f)) for f in ([s], [s], [], [s], [], [], [s])]
    [1, 0, 0, 0, 0, 0, 1]
    """

    def __init__(self, release_frames: int = 3) -> None:
        if release_frames < 1:
            raise ValueError(f"release_frames must be at least 1, got {release_frames}")
        self.release_frames = release_frames
        self._absent: dict[DecodedSymbol, int] = {}

    def update(self, symbols: Sequence[DecodedSymbol]) -> list[DecodedSymbol]:
        """Symbols of this frame that are new; call once per decoded frame."""
        fresh = [s for s in dict.fromkeys(symbols) if s not in self._absent]
        present = set(symbols)
        for symbol in list(self._absent):
            if symbol in present:
                self._absent[symbol] = 0
            else:
                self._absent[symbol] += 1
                if self._absent[symbol] >= self.release_frames:
                    del self._absent[symbol]
        for symbol in fresh:
            self._absent[symbol] = 0
        return fresh

    def reset(self) -> None:
        """Forget everything seen (a new trigger starts afresh)."""
        self._absent.clear()


class FrameSource(Protocol):
    """Frames from a camera, a stream or a file."""

    #: True for a file: its end is the end of the scanner, not a fault.
    finite: bool

    def read(self) -> Image | None:
        """The next frame, or ``None`` at the end or when the device failed."""

    def close(self) -> None:
        """Release the device."""


class OpenCVSource:
    """``cv2.VideoCapture`` on a device index, a file or an RTSP URL.

    Raises :class:`TransportError` when the source cannot be opened.
    """

    def __init__(self, source: int | str) -> None:
        import cv2

        self.finite = isinstance(source, str) and "://" not in source
        self._source = source
        self._capture: Any = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            self._capture.release()
            raise TransportError(f"camera {source!r}: cannot open")

    def read(self) -> Image | None:
        ok, frame = self._capture.read()
        return frame if ok else None

    def close(self) -> None:
        self._capture.release()


class CaptureMode(StrEnum):
    """When frames are decoded."""

    CONTINUOUS = "continuous"
    TRIGGER = "trigger"


class CameraScanner(Scanner):
    """A camera as a scanner; frames come from ``source_factory`` (opened per attempt).

    ``open_scanner("camera://0", "cam-1")`` builds one on an OpenCV capture; tests pass
    a source of generated frames.
    """

    def __init__(
        self,
        device_id: str,
        url: str,
        source_factory: Callable[[], FrameSource],
        *,
        decoder_factory: Callable[[], FrameDecoder] = ZxingDecoder,
        mode: CaptureMode = CaptureMode.CONTINUOUS,
        release_frames: int = 3,
        stamper: ReadStamper | None = None,
        backoff: Backoff = SCANNER_BACKOFF,
    ) -> None:
        self.device_id = device_id
        self.url = url
        self.mode = mode
        self._source_factory = source_factory
        self._decoder_factory = decoder_factory
        self._release_frames = release_frames
        self._stamper = stamper or ReadStamper(device_id)
        self._backoff = backoff
        self._armed_until = 0.0
        self._lock = threading.Lock()
        #: Frames read and decoded since the scanner started (for diagnostics).
        self.frames_read = 0
        self.frames_decoded = 0

    def trigger(self, window: float = 1.0) -> None:
        """Decode frames for the next ``window`` seconds or until one read (trigger mode)."""
        with self._lock:
            self._armed_until = time.monotonic() + window

    def _armed(self) -> bool:
        if self.mode is CaptureMode.CONTINUOUS:
            return True
        with self._lock:
            return time.monotonic() < self._armed_until

    def _disarm(self) -> None:
        with self._lock:
            self._armed_until = 0.0

    def _work(self, post: Callable[[ScanEvent | None], None], stop: threading.Event) -> None:
        stamper = self._stamper
        try:
            decoder = self._decoder_factory()
        except DeviceError as exc:
            post(stamper.status(ScannerState.DISCONNECTED, str(exc)))
            post(None)
            return
        dedup = Deduplicator(self._release_frames)
        delays = self._backoff.delays()
        while not stop.is_set():
            try:
                source = self._source_factory()
            except TransportError as exc:
                delay = next(delays, self._backoff.maximum)
                post(stamper.status(ScannerState.DISCONNECTED, str(exc), delay))
                stop.wait(delay)
                continue
            post(stamper.status(ScannerState.CONNECTED, self.url))
            try:
                was_armed = False
                while not stop.is_set():
                    frame = source.read()
                    if frame is None:
                        break
                    self.frames_read += 1
                    delays = self._backoff.delays()
                    armed = self._armed()
                    if armed and not was_armed:
                        dedup.reset()
                    was_armed = armed
                    if not armed:
                        continue
                    self.frames_decoded += 1
                    try:
                        found = decoder.decode(frame)
                    except DeviceError as exc:  # e.g. a region of interest off the frame
                        post(stamper.status(ScannerState.DISCONNECTED, f"{self.url}: {exc}"))
                        post(None)
                        return
                    for symbol in dedup.update(found):
                        read = stamper.payload(symbol.symbology, symbol.data)
                        if symbol.grade is not None:
                            read = replace(
                                read, grade=symbol.grade, grade_parameter=symbol.grade_parameter
                            )
                        post(read)
                        if self.mode is CaptureMode.TRIGGER:
                            self._disarm()
            finally:
                source.close()
            if stop.is_set():
                break
            if source.finite:
                post(stamper.status(ScannerState.ENDED, f"{self.url}: end of video"))
                post(None)
                return
            delay = next(delays, self._backoff.maximum)
            post(stamper.status(ScannerState.DISCONNECTED, f"{self.url}: no frame", delay))
            stop.wait(delay)
        post(None)

    async def events(self) -> AsyncGenerator[ScanEvent, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ScanEvent | None] = asyncio.Queue()
        stop = threading.Event()

        def post(item: ScanEvent | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                self._work(post, stop)
            except Exception:
                logger.exception("%s: camera worker failed", self.device_id)
                post(None)

        thread = threading.Thread(target=work, name=f"camera-{self.device_id}", daemon=True)
        yield self._stamper.status(ScannerState.CONNECTING, self.url)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            stop.set()
            await asyncio.to_thread(thread.join, 10.0)
