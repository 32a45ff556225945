"""Camera scanners: OpenCV capture in a worker thread, zxing-cpp (or pyzbar) decoding.

The capture and the decoding run in one worker thread so a slow decode never blocks
the event loop; reads are handed to the loop thread-safely. The same code seen in
consecutive frames is reported once (:class:`Deduplicator`). In trigger mode frames are
only decoded while armed by :meth:`CameraScanner.trigger` (a photo-eye, a PLC input).

Decoders: :class:`ZxingDecoder` (default; DataMatrix, QR, GS1-128 with AIM identifiers)
and :class:`PyzbarDecoder` (optional; no DataMatrix; needs the system library libzbar0).
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


class ZxingDecoder:
    """zxing-cpp, restricted to the symbologies a line uses; inverted symbols skipped.

    With ``grade``, each symbol also gets its print-quality grade
    (:func:`edge.scanners.grading.grade_reads`).

    >>> ZxingDecoder().decode(np.full((50, 50), 255, np.uint8))
    []
    """

    name = "zxing-cpp"

    def __init__(
        self, symbologies: Iterable[Symbology] = ALL_SYMBOLOGIES, *, grade: bool = False
    ) -> None:
        import zxingcpp

        self.grade = grade
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
        self._formats = zxingcpp.barcode_formats_from_str(",".join(names[s] for s in chosen))
        self._read = zxingcpp.read_barcodes

    def decode(self, frame: Image) -> list[DecodedSymbol]:
        results = self._read(frame, formats=self._formats, try_invert=False)
        symbols = [DecodedSymbol(str(r.symbology_identifier), bytes(r.bytes)) for r in results]
        if not self.grade:
            return symbols
        from edge.scanners.grading import grade_reads

        new = [(s, r) for s, r in zip(symbols, results, strict=True) if s not in self._grades]
        graded = grade_reads(frame, [r for _, r in new]) if new else []
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

    def __init__(self) -> None:
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
        for result in self._pyzbar.decode(frame, symbols=self._symbols):
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
                    for symbol in dedup.update(decoder.decode(frame)):
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
