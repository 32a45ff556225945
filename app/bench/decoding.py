"""Scanner benchmarks: camera decoding (zxing-cpp beside pyzbar) and line framing.

Both are measured side by side with their baseline in the same run, so the ratio is
meaningful on a shared machine. Wired to ``lineside bench decode``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.bench.report import Figure
from edge.scanners.camera import DecodedSymbol, FrameDecoder, PyzbarDecoder
from edge.scanners.read import ReadStamper
from edge.scanners.urls import CameraScannerSpec, camera_decoder, parse_scanner_url
from lineside.codecs.framing import LineFramer
from lineside.errors import DeviceError, LinesideError

#: The verify camera as the example configuration sets it up (config/
#: line-escpos-usb-camera.toml, docs/deploy.md "Tuning a verify camera"): even lighting,
#: so the global binarizer; GS1-128 twisted on the belt re-scanned 10 degrees each way;
#: every read graded. No region of interest: the benchmark's labels land anywhere in the
#: frame, so both decoders get the whole frame.
TUNED_URL = "camera://0?binarizer=global&tilt=10&grade=1"
DEFAULT_URL = "camera://0"

_SYMBOLOGIES: tuple[tuple[str, str], ...] = (
    ("datamatrix", "(01)08934567890120(10)LOT-{i:03d}(21)Sx{i:05d}q"),
    ("qr", "https://id.example.com/01/08934567890120/10/LOT-{i:03d}/21/Sx{i:05d}q?17=271231"),
    ("gs1_128", "]C1" + "00389345678901{i:05d}"),
)

Frames = Sequence[tuple[str, DecodedSymbol, npt.NDArray[np.uint8]]]


def _sscc(body17: str) -> str:
    from lineside.gs1 import gs1_check_digit

    return body17 + gs1_check_digit(body17)


def _bench_frames(frames: int) -> list[tuple[str, DecodedSymbol, npt.NDArray[np.uint8]]]:
    """``frames`` generated 1280x720 frames cycling through the three symbologies."""
    from simulators.scanners.camera import FrameEffects, FrameGenerator
    from simulators.scanners.codes import code_from_text

    gen = FrameGenerator(effects=FrameEffects(occlusion=0.0), seed=2026)
    out = []
    for i in range(frames):
        name, template = _SYMBOLOGIES[i % len(_SYMBOLOGIES)]
        text = template.format(i=i)
        if name == "gs1_128":
            text = "]C100" + _sscc(text[5:])
        code = code_from_text(text)
        expected = DecodedSymbol(code.symbology, code.data.encode("utf-8"))
        out.append((name, expected, gen.frame(gen.label_for(code))))
    return out


def _decoder(url: str) -> FrameDecoder:
    spec = parse_scanner_url(url)
    assert isinstance(spec, CameraScannerSpec)
    return camera_decoder(spec)()


@dataclass(slots=True)
class _Tally:
    """One decoder's reads and times over the frames."""

    decoder: FrameDecoder
    same: Callable[[DecodedSymbol, DecodedSymbol], bool]
    hits: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)

    def decode(self, name: str, expected: DecodedSymbol, frame: npt.NDArray[np.uint8]) -> None:
        start = time.perf_counter()
        found = self.decoder.decode(frame)
        self.times.append(time.perf_counter() - start)
        self.totals[name] = self.totals.get(name, 0) + 1
        self.hits[name] = self.hits.get(name, 0) + any(self.same(f, expected) for f in found)

    @property
    def rates(self) -> dict[str, float]:
        return {name: 100.0 * self.hits[name] / self.totals[name] for name in self.totals}

    @property
    def median_ms(self) -> float:
        return 1000.0 * statistics.median(self.times)

    @property
    def mean_ms(self) -> float:
        return 1000.0 * statistics.fmean(self.times)


def _run(tallies: Sequence[_Tally], frames: Frames) -> None:
    """Every decoder on each frame in turn, so a machine busy with something else slows
    them alike; everything a decoder does is timed (grey conversion, decoding, re-scans,
    grading)."""
    for name, expected, frame in frames:
        for tally in tallies:
            tally.decode(name, expected, frame)


def bench_decode(frames: int = 90) -> list[Figure]:
    """Read rates per symbology and median ms/frame of the tuned verify camera
    (:data:`TUNED_URL`), with plain pyzbar on the same frames as baseline; the camera's
    defaults (:data:`DEFAULT_URL`) beside it."""
    data = _bench_frames(max(frames, len(_SYMBOLOGIES)))
    tuned = _Tally(_decoder(TUNED_URL), lambda a, b: a == b)
    default = _Tally(_decoder(DEFAULT_URL), lambda a, b: a == b)
    tallies = [tuned, default]
    try:
        # ZBar gives no AIM identifier: judge it on the data alone.
        zbar: _Tally | None = _Tally(PyzbarDecoder(), lambda a, b: a.data == b.data)
        note = "pyzbar: QR and Code 128 only, cannot read DataMatrix"
    except DeviceError:
        zbar = None
        note = "pyzbar unavailable (libzbar0 missing): no baseline"
    _run([*tallies, *([zbar] if zbar else [])], data)
    zx_rates, zx_ms, zx_mean = tuned.rates, tuned.median_ms, tuned.mean_ms
    default_rates, default_ms, default_mean = default.rates, default.median_ms, default.mean_ms
    if zbar is not None:
        zb_rates, zb_ms, zb_mean = zbar.rates, zbar.median_ms, zbar.mean_ms
    else:
        zb_rates, zb_ms, zb_mean = {}, 0.0, 0.0
    frames_note = (
        f"{len(data)} frames 1280x720, labels anywhere, rotated up to 25 degrees, blurred, "
        f"noisy, glare; both decoders on the whole frame; {TUNED_URL}"
    )
    figures = [
        Figure(
            f"zxing_{name}_read_percent",
            zx_rates[name],
            "%",
            target=100.0,
            baseline_name=f"pyzbar_{name}_read_percent" if zbar is not None else None,
            baseline=zb_rates.get(name) if zbar is not None else None,
            note=f"{frames_note}; defaults ({DEFAULT_URL}): {default_rates[name]:.0f} %; {note}",
        )
        for name, _ in _SYMBOLOGIES
    ]
    figures.append(_grading_figure(data))
    figures.append(
        Figure(
            "zxing_median_ms_per_frame",
            zx_ms,
            "ms",
            target=40.0,
            lower_is_better=True,
            baseline_name="pyzbar_median_ms_per_frame" if zbar is not None else None,
            baseline=zb_ms if zbar is not None else None,
            note=f"one thread; {TUNED_URL}: grey conversion, decoding, the tilt re-scans of "
            "frames that gave nothing and the grading of every symbol (each frame a new code) "
            "included; pyzbar: grey conversion and decoding of QR + Code 128, nothing else; "
            "the decoders take turns on each frame; "
            f"means {zx_mean:.1f} ms and {zb_mean:.1f} ms",
        )
    )
    figures.append(
        Figure(
            "zxing_default_median_ms_per_frame",
            default_ms,
            "ms",
            lower_is_better=True,
            baseline_name="pyzbar_median_ms_per_frame" if zbar is not None else None,
            baseline=zb_ms if zbar is not None else None,
            note=f"the camera's defaults ({DEFAULT_URL}: local-average binarizer, no tilt "
            f"re-scan, no grading), same frames; mean {default_mean:.1f} ms",
        )
    )
    return figures


def _grading_figure(frames: Frames) -> Figure:
    """Median ms to grade the print quality of what was decoded in a frame."""
    import zxingcpp

    from edge.scanners.camera import View
    from edge.scanners.grading import grade_reads

    formats = zxingcpp.barcode_formats_from_str("DataMatrix,QRCode,Code128")
    times: list[float] = []
    graded = 0
    for _, _, frame in frames:
        gray = View().apply(frame)
        reads = zxingcpp.read_barcodes(gray, formats=formats, try_invert=False)
        start = time.perf_counter()
        graded += len(grade_reads(gray, reads))
        times.append(time.perf_counter() - start)
    return Figure(
        "grading_median_ms_per_frame",
        1000.0 * statistics.median(times),
        "ms",
        lower_is_better=True,
        note=f"15415/15416-style grades of the {graded} symbols read in grey frames; part of "
        "zxing_median_ms_per_frame; process-control grades",
    )


def _stream(reads: int) -> tuple[bytes, int]:
    lines = [b"]d2010893456789012010LOT-%03d\x1d21Sx%05dq" % (i % 1000, i) for i in range(reads)]
    return b"".join(line + b"\r\n" for line in lines), reads


def bench_framing(reads: int = 20_000) -> list[Figure]:
    """Reads per second framed and parsed (target 50,000), with ``biip.parse`` as baseline.

    biip is not a dependency of Lineside (``lineside.gs1`` parses every code); it is the
    well-known parser this figure is compared with, from the ``bench`` extra.
    """
    try:
        import biip
    except ModuleNotFoundError as exc:
        raise LinesideError(
            "the framing benchmark compares with biip: pip install 'lineside[bench]'"
        ) from exc

    stream, count = _stream(reads)
    chunks = [stream[i : i + 4096] for i in range(0, len(stream), 4096)]

    framer = LineFramer()
    start = time.perf_counter()
    framed = [f for chunk in chunks for f in framer.feed(chunk)]
    frame_only = time.perf_counter() - start

    stamper = ReadStamper("bench")
    framer = LineFramer()
    start = time.perf_counter()
    parsed = 0
    for chunk in chunks:
        for frame in framer.feed(chunk):
            parsed += stamper.frame(frame).ok
    ours = time.perf_counter() - start

    start = time.perf_counter()
    for frame in framed:
        biip.parse(frame.data.decode("utf-8"))
    theirs = time.perf_counter() - start
    if parsed != count or len(framed) != count:
        raise AssertionError(f"bench_framing: {parsed}/{len(framed)} of {count} reads parsed")
    return [
        Figure(
            "scanner_reads_per_s",
            count / ours,
            "reads/s",
            target=50_000.0,
            baseline_name="biip_parse_reads_per_s",
            baseline=count / theirs,
            note="LineFramer + ReadStamper (parse_scan) on 4 KiB chunks of GS1 DataMatrix reads",
        ),
        Figure("scanner_framing_only_reads_per_s", count / frame_only, "reads/s"),
    ]
