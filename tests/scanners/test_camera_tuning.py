"""A verify camera tuned to its line: region of interest, mounting, binarizer, tilt re-scan
(URL options, with their errors), on frames the tests make."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge.scanners import ScanEvent, ScannerState, open_scanner
from edge.scanners.camera import (
    Binarizer,
    CameraScanner,
    DecodedSymbol,
    PyzbarDecoder,
    Symbology,
    View,
    ZxingDecoder,
    tilted,
)
from edge.scanners.urls import CameraScannerSpec, camera_decoder, parse_scanner_url
from lineside.errors import ConfigError, DeviceError
from simulators.scanners.camera import SimulatedFrameSource, render_symbol
from simulators.scanners.codes import SimCode, code_from_text
from tests.scanners.conftest import collect, reads_of, statuses_of

SSCC = code_from_text("]C100389345678900000017")
DATAMATRIX = code_from_text("(01)08934567890120(10)LOT-7(21)A1b2C3")


def _frame(code: SimCode, *, at: tuple[int, int] = (640, 360), degrees: float = 0.0) -> np.ndarray:
    """A 1280x720 BGR frame: the belt, and a label with ``code`` centred at ``at``, its
    symbol turned ``degrees`` counter-clockwise."""
    symbol = render_symbol(code)
    label = np.full((symbol.shape[0] + 80, symbol.shape[1] + 80), 245, np.uint8)
    label[40 : 40 + symbol.shape[0], 40 : 40 + symbol.shape[1]] = symbol
    if degrees:
        label = tilted(label, degrees)
    gray = np.full((720, 1280), 70, np.uint8)
    top, left = at[1] - label.shape[0] // 2, at[0] - label.shape[1] // 2
    gray[top : top + label.shape[0], left : left + label.shape[1]] = label
    return np.repeat(gray[..., None], 3, axis=2)


def _spec(url: str) -> CameraScannerSpec:
    spec = parse_scanner_url(url)
    assert isinstance(spec, CameraScannerSpec)
    return spec


def _expected(code: SimCode) -> DecodedSymbol:
    return DecodedSymbol(code.symbology, code.data.encode())


def test_tuning_options_from_the_url() -> None:
    spec = _spec("camera://0?roi=0,240,1280,320&rotate=90&binarizer=global&tilt=10")
    assert spec.view == View(roi=(0, 240, 1280, 320), rotate=90)
    assert spec.binarizer is Binarizer.GLOBAL
    assert spec.tilt == 10
    plain = _spec("camera://0")
    assert (plain.view, plain.binarizer, plain.tilt) == (View(), Binarizer.LOCAL, 0)
    # An RTSP stream keeps its own options; the camera's are taken out of its URL.
    rtsp = _spec("camera+rtsp://10.0.0.9/s1?roi=10,20,300,200&token=abc")
    assert rtsp.view.roi == (10, 20, 300, 200)
    assert rtsp.source == "rtsp://10.0.0.9/s1?token=abc"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("camera://0?roi=1,2,3", r"roi='1,2,3' is not x,y,width,height in whole pixels"),
        ("camera://0?roi=a,b,c,d", r"roi='a,b,c,d' is not x,y,width,height"),
        ("camera://0?roi=-1,0,10,10", r"roi='-1,0,10,10' is not x,y,width,height"),
        ("camera://0?roi=0,0,0,10", r"roi='0,0,0,10' is empty"),
        ("camera://0?rotate=45", r"rotate=45 is not supported; expected one of 0, 90, 180, 270"),
        ("camera://0?rotate=left", r"rotate='left' is not a whole number"),
        ("camera://0?binarizer=otsu", r"binarizer='otsu' is not known"),
        ("camera://0?decoder=pyzbar&binarizer=global", r"binarizer=global needs the zxing"),
        ("camera://0?tilt=60", r"tilt=60 is more than 45 degrees"),
        ("camera://0?tilt=-5", r"tilt='-5' is not a whole number"),
        ("camera://0?decoder=pyzbar&tilt=10", r"tilt=10 needs the zxing decoder"),
        ("camera://0?symbologies=qr&tilt=10", r"tilt=10 re-scans for GS1-128"),
    ],
)
def test_bad_tuning_options_name_the_problem(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        open_scanner(url, "cam")
    assert url in str(caught.value)


def test_tilt_rescan_reads_a_twisted_gs1_128_a_plain_scan_misses() -> None:
    for degrees in (20.0, -20.0):
        frame = _frame(SSCC, degrees=degrees)
        assert ZxingDecoder([Symbology.GS1_128]).decode(frame) == []
        found = camera_decoder(_spec("camera://0?symbologies=gs1-128&tilt=10"))().decode(frame)
        assert found == [_expected(SSCC)], degrees


def test_tilt_rescan_grades_what_it_read() -> None:
    decoder = ZxingDecoder(grade=True, tilt=10)
    [symbol] = decoder.decode(_frame(SSCC, degrees=20.0))
    assert symbol == _expected(SSCC)
    assert symbol.grade in ("A", "B", "C", "D", "F")
    assert symbol.grade_parameter is not None


def test_upright_frames_are_not_rescanned(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = ZxingDecoder(tilt=10)
    calls: list[int] = []
    real = decoder._read

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(decoder, "_read", counting)
    assert decoder.decode(_frame(DATAMATRIX)) == [_expected(DATAMATRIX)]
    assert len(calls) == 1
    assert decoder.decode(np.full((720, 1280, 3), 70, np.uint8)) == []
    assert len(calls) == 4  # the empty frame: once as it is, then turned each way


@pytest.mark.parametrize("binarizer", list(Binarizer))
def test_every_binarizer_reads_an_evenly_lit_label(binarizer: Binarizer) -> None:
    for code in (SSCC, DATAMATRIX):
        found = ZxingDecoder(binarizer=binarizer).decode(_frame(code))
        assert found == [_expected(code)], binarizer


def test_region_of_interest_decodes_only_where_labels_pass() -> None:
    left = _frame(DATAMATRIX, at=(300, 360))
    lane = View(roi=(0, 100, 640, 520))
    assert ZxingDecoder(view=lane).decode(left) == [_expected(DATAMATRIX)]
    # The same label outside the region of interest is not looked at.
    right = _frame(DATAMATRIX, at=(980, 360))
    assert ZxingDecoder().decode(right) == [_expected(DATAMATRIX)]
    assert ZxingDecoder(view=lane).decode(right) == []


def test_mounting_rotation_turns_the_bars_upright() -> None:
    # A camera mounted a quarter turn clockwise sees the bars lying down.
    lying = np.ascontiguousarray(np.rot90(_frame(SSCC)))
    assert ZxingDecoder(view=View(rotate=0)).decode(lying) == []
    assert ZxingDecoder(view=View(rotate=90)).decode(lying) == [_expected(SSCC)]
    # Without a stated mounting, zxing-cpp searches turned symbols itself.
    assert ZxingDecoder().decode(lying) == [_expected(SSCC)]
    # A DataMatrix reads at any angle, mounting stated or not.
    turned = np.ascontiguousarray(np.rot90(_frame(DATAMATRIX)))
    assert ZxingDecoder(view=View(rotate=0)).decode(turned) == [_expected(DATAMATRIX)]


def test_view_cuts_a_region_reaching_past_the_frame() -> None:
    frame = np.zeros((720, 1280, 3), np.uint8)
    assert View(roi=(1000, 600, 500, 500)).apply(frame).shape == (120, 280)
    with pytest.raises(DeviceError, match=r"roi=1300,0,10,10 lies outside the camera's 1280x720"):
        View(roi=(1300, 0, 10, 10)).apply(frame)
    with pytest.raises(ValueError, match="rotate 45"):
        View(rotate=45)


def test_pyzbar_decodes_the_same_view() -> None:
    try:
        decoder = PyzbarDecoder(view=View(roi=(0, 100, 640, 520)))
    except DeviceError:
        pytest.skip("libzbar0 is not installed")
    # ZBar gives no AIM identifier (nor always the FNC1): the data is what counts here.
    assert [s.data for s in decoder.decode(_frame(SSCC, at=(340, 360)))] == [SSCC.data.encode()]
    assert decoder.decode(_frame(SSCC, at=(940, 360))) == []


@pytest.mark.usefixtures("no_thread_leak")
async def test_camera_scanner_with_a_region_of_interest() -> None:
    inside, outside = _frame(DATAMATRIX, at=(300, 360)), _frame(SSCC, at=(900, 360))
    spec = _spec("camera://0?roi=0,0,640,720&tilt=10")
    scanner = CameraScanner(
        "cam-1",
        spec.url,
        lambda: SimulatedFrameSource([outside, inside, outside]),
        decoder_factory=camera_decoder(spec),
    )
    events = await collect(
        scanner.events(),
        lambda s: any(getattr(e, "state", None) is ScannerState.ENDED for e in s),
    )
    assert [r.raw for r in reads_of(events)] == [DATAMATRIX.transmitted.encode()]
    assert scanner.frames_decoded == 3


@pytest.mark.usefixtures("no_thread_leak")
async def test_a_region_off_the_frame_stops_the_camera_with_a_clear_status() -> None:
    spec = _spec("camera://0?roi=2000,0,100,100")
    scanner = CameraScanner(
        "cam-1",
        spec.url,
        lambda: SimulatedFrameSource([_frame(DATAMATRIX)], finite=False),
        decoder_factory=camera_decoder(spec),
    )

    def done(seen: list[ScanEvent]) -> bool:
        return any(getattr(e, "state", None) is ScannerState.DISCONNECTED for e in seen)

    events = await collect(scanner.events(), done)
    last = statuses_of(events)[-1]
    assert last.state is ScannerState.DISCONNECTED
    assert "roi=2000,0,100,100 lies outside the camera's 1280x720 frame" in last.detail
