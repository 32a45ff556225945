"""open_scanner: URL → driver, with precise configuration errors."""

from __future__ import annotations

import pytest

from edge.scanners import open_scanner
from edge.scanners.camera import CameraScanner, CaptureMode
from edge.scanners.hid import HidScanner
from edge.scanners.stream import ListeningScanner, StreamScanner
from lineside.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("serial:///dev/ttyUSB0?baud=115200&terminator=cr&aim=required", StreamScanner),
        ("tcp://10.0.0.7:2001?symbology=]d2", StreamScanner),
        ("tcp-listen://0.0.0.0:2001", ListeningScanner),
        ("hid:///dev/input/event3?layout=fr&gs=~", HidScanner),
        ("camera://0?mode=trigger&symbologies=datamatrix,qr", CameraScanner),
        ("camera:///srv/line1.mp4", CameraScanner),
        ("camera+rtsp://10.0.0.9/stream1", CameraScanner),
    ],
)
def test_urls_pick_drivers(url: str, kind: type) -> None:
    scanner = open_scanner(url, "dev-1")
    assert isinstance(scanner, kind)
    assert scanner.url == url
    assert scanner.device_id == "dev-1"


def test_camera_mode_from_url() -> None:
    scanner = open_scanner("camera://0?mode=trigger", "c")
    assert isinstance(scanner, CameraScanner)
    assert scanner.mode is CaptureMode.TRIGGER


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nothing", "no scheme"),
        ("serial:///dev/ttyS0?terminator=etx", "terminator='etx' is not known"),
        ("serial:///dev/ttyS0?baud=12", "baud=12 is not supported"),
        ("tcp://host", "the port is missing"),
        ("tcp://h:1?aim=maybe", "aim='maybe' is not known"),
        ("tcp://h:1?symbology=d2", "symbology='d2' is not an AIM identifier"),
        ("tcp-listen://0.0.0.0", "the port is missing"),
        ("tcp-listen://0.0.0.0:1?x=1", "unknown option 'x'"),
        ("hid://event3", "the device path is missing"),
        ("hid:///dev/input/event3?layout=de", "layout='de' is not known"),
        ("hid:///dev/input/event3?gs=ab", "gs='ab' is not one character"),
        ("camera://", "no camera index or file"),
        ("camera://0?symbologies=aztec", "symbologies='aztec' is not known"),
        ("camera://0?release=0", "release='0' is not a whole number >= 1"),
    ],
)
def test_bad_urls_name_the_problem(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_scanner(url, "x")


def test_benchmarks_run_small() -> None:
    from app.bench.decoding import bench_decode, bench_framing

    framing = bench_framing(reads=300)
    assert framing[0].name == "scanner_reads_per_s"
    assert framing[0].value > 0
    decode = {f.name: f for f in bench_decode(frames=3)}
    assert decode["zxing_datamatrix_read_percent"].value == 100.0
    assert decode["zxing_qr_read_percent"].value == 100.0
    # Grading time per frame is reported beside the decoding time.
    names = list(decode)
    assert names.index("grading_median_ms_per_frame") + 1 == names.index(
        "zxing_median_ms_per_frame"
    )
    assert decode["grading_median_ms_per_frame"].value > 0
