"""Camera simulator: realistic frames that real decoders read (or miss) as expected."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp

from simulators.scanners.camera import FrameEffects, FrameGenerator, load_label, render_symbol
from simulators.scanners.codes import SimCode, code_from_text

CODES = {
    "]d2": code_from_text("(01)08934567890120(10)LOT 7/A(21)k9-Z"),
    "]Q1": code_from_text("https://id.example.com/01/08934567890120/21/k9Z?17=271231"),
    "]C1": code_from_text("]C100389345678901234563"),
    "]Q3": SimCode("]Q3", "0108934567890120"),
}


def decode(image: np.ndarray) -> list[tuple[str, bytes]]:
    return [(r.symbology_identifier, r.bytes) for r in zxingcpp.read_barcodes(image)]


@pytest.mark.parametrize("symbology", list(CODES))
def test_rendered_symbols_decode_to_their_code(symbology: str) -> None:
    code = CODES[symbology]
    assert decode(render_symbol(code)) == [(code.symbology, code.data.encode())]


def test_frames_are_1280x720_bgr_and_seeded() -> None:
    label = FrameGenerator(seed=4).label_for(CODES["]d2"])
    one = FrameGenerator(seed=4).frame(label)
    two = FrameGenerator(seed=4).frame(label)
    other = FrameGenerator(seed=5).frame(label)
    assert one.shape == (720, 1280, 3)
    assert np.array_equal(one, two)
    assert not np.array_equal(one, other)


def test_degraded_frames_still_decode_for_2d_codes() -> None:
    gen = FrameGenerator(effects=FrameEffects(occlusion=0.0), seed=8)
    for symbology in ("]d2", "]Q1"):
        code = CODES[symbology]
        label = gen.label_for(code)
        hits = sum((symbology, code.data.encode()) in decode(gen.frame(label)) for _ in range(6))
        assert hits == 6


def test_blank_frames_hold_no_code() -> None:
    assert decode(FrameGenerator(seed=1).blank()) == []


def test_labels_from_images_on_disk(tmp_path: object) -> None:
    from pathlib import Path

    import cv2

    path = Path(str(tmp_path)) / "label.png"
    gen = FrameGenerator(effects=FrameEffects.none(), seed=2)
    cv2.imwrite(str(path), gen.label_for(CODES["]Q1"]))
    frame = gen.frame(load_label(path))
    assert ("]Q1", CODES["]Q1"].data.encode()) in decode(frame)
    with pytest.raises(ValueError, match="not a readable image"):
        load_label(path.with_name("missing.png"))
