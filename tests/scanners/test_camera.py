"""Camera scanner against the camera simulator: generated frames and a real video file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.scanners import ScanEvent, ScannerState, open_scanner
from edge.scanners.camera import (
    CameraScanner,
    CaptureMode,
    DecodedSymbol,
    Deduplicator,
    PyzbarDecoder,
    ZxingDecoder,
)
from lineside.backoff import Backoff
from lineside.errors import ConfigError, DeviceError
from simulators.scanners.camera import (
    FrameEffects,
    FrameGenerator,
    SimulatedFrameSource,
    write_video,
)
from simulators.scanners.codes import code_from_text
from tests.scanners.conftest import collect, reads_of, statuses_of

CODES = [
    code_from_text("(01)08934567890120(10)LOT-7(21)A1b2C3"),
    code_from_text("https://id.example.com/01/08934567890120/10/L7/21/Zz9?17=271231"),
    code_from_text("(01)08934567890120(10)LOT-7(21)Q9"),
]
GENTLE = FrameEffects(rotation_deg=10.0, blur_sigma=(0.0, 0.6), occlusion=0.0, glare=0.2)
FAST = Backoff(initial=0.0, maximum=0.0, jitter=0.0, attempts=None)


def frames(count_per_code: int = 3) -> list[np.ndarray]:
    gen = FrameGenerator(effects=GENTLE, seed=5)
    return list(gen.frames_for_codes(CODES, frames_per_code=count_per_code, gap_frames=2))


@pytest.mark.usefixtures("no_thread_leak")
async def test_continuous_mode_reports_each_code_once() -> None:
    scanner = CameraScanner("cam-1", "camera://sim", lambda: SimulatedFrameSource(frames()))

    async def scenario() -> list[ScanEvent]:
        return await collect(
            scanner.events(),
            lambda s: any(getattr(e, "state", None) is ScannerState.ENDED for e in s),
        )

    events = await scenario()
    reads = reads_of(events)
    assert [r.raw for r in reads] == [c.transmitted.encode() for c in CODES]
    assert all(r.ok for r in reads)
    assert [r.symbology for r in reads] == ["]d2", "]Q1", "]d2"]
    assert statuses_of(events)[-1].state is ScannerState.ENDED


@pytest.mark.usefixtures("no_thread_leak")
async def test_trigger_mode_decodes_only_when_armed() -> None:
    scanner = CameraScanner(
        "cam-2", "camera://sim", lambda: SimulatedFrameSource(frames()), mode=CaptureMode.TRIGGER
    )

    async def scenario() -> list[ScanEvent]:
        return await collect(
            scanner.events(),
            lambda s: any(getattr(e, "state", None) is ScannerState.ENDED for e in s),
        )

    assert reads_of(await scenario()) == []
    assert scanner.frames_read > 0
    assert scanner.frames_decoded == 0

    scanner.trigger(window=60.0)
    reads = reads_of(await scenario())
    # Armed once: the first code is read, then the scanner disarms itself.
    assert [r.raw for r in reads] == [CODES[0].transmitted.encode()]


@pytest.mark.usefixtures("no_thread_leak")
async def test_camera_reads_a_video_file_written_with_opencv(tmp_path: Path) -> None:
    video = tmp_path / "line.avi"
    assert write_video(video, frames(4), fps=10) == 3 * (4 + 2)
    scanner = open_scanner(f"camera://{video}", "cam-3")

    async def scenario() -> list[ScanEvent]:
        return await collect(
            scanner.events(),
            lambda s: any(getattr(e, "state", None) is ScannerState.ENDED for e in s),
        )

    reads = reads_of(await scenario())
    assert [r.raw for r in reads] == [c.transmitted.encode() for c in CODES]


@pytest.mark.usefixtures("no_thread_leak")
async def test_missing_camera_is_reported_and_retried() -> None:
    scanner = open_scanner("camera:///nonexistent/video.avi", "cam-4")
    assert isinstance(scanner, CameraScanner)
    scanner._backoff = FAST

    async def scenario() -> list[ScanEvent]:
        return await collect(scanner.events(), lambda s: len(statuses_of(s)) >= 3)

    statuses = statuses_of(await scenario())
    assert statuses[1].state is ScannerState.DISCONNECTED
    assert "cannot open" in statuses[1].detail


def test_deduplicator_releases_after_absence() -> None:
    a, b = DecodedSymbol("]d2", b"a"), DecodedSymbol("]d2", b"b")
    d = Deduplicator(release_frames=2)
    assert d.update([a, a]) == [a]
    assert d.update([a, b]) == [b]
    assert d.update([]) == []
    assert d.update([]) == []
    assert d.update([a, b]) == [a, b]


def test_zxing_decoder_keeps_gs_and_reports_symbology() -> None:
    gen = FrameGenerator(effects=FrameEffects.none(), seed=1)
    found = ZxingDecoder().decode(gen.frame(gen.label_for(CODES[0])))
    assert found == [DecodedSymbol("]d2", CODES[0].data.encode())]


def test_pyzbar_absence_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyzbar", None)
    with pytest.raises(DeviceError, match="libzbar0"):
        PyzbarDecoder()


def test_bad_camera_urls() -> None:
    with pytest.raises(ConfigError, match="camera index 'x' is not a number"):
        open_scanner("camera://x", "c")
    with pytest.raises(ConfigError, match="mode='sometimes' is not known"):
        open_scanner("camera://0?mode=sometimes", "c")
