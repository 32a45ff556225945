"""Scanner simulator scripting: code parsing, encoding with faults, seeded statistics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.codecs.framing import LineFramer, split_aim_prefix
from simulators.scanners.codes import GS, ScanEncoder, ScanFaults, SimCode, code_from_text

CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
codes = st.builds(
    SimCode,
    st.sampled_from(["]d2", "]Q1", "]C1", "]Q3"]),
    st.text(alphabet=CSET82 + GS, min_size=1, max_size=60),
)


@given(code=codes)
def test_encode_then_frame_roundtrip(code: SimCode) -> None:
    wire = ScanEncoder().encode(code)
    assert wire is not None
    frames = LineFramer().feed(wire)
    assert len(frames) == 1
    symbology, data = split_aim_prefix(frames[0].data)
    assert SimCode(symbology or "", data.decode()) == code


@given(code=codes)
def test_faults_drop_gs_and_prefix(code: SimCode) -> None:
    wire = ScanEncoder(ScanFaults(drop_gs=True, aim_prefix=False, terminator=b"\r")).encode(code)
    assert wire == code.data.replace(GS, "").encode() + b"\r"


def test_gs_substitute() -> None:
    wire = ScanEncoder(ScanFaults(gs_substitute="~")).encode(SimCode("]d2", "10A\x1d21B"))
    assert wire == b"]d210A~21B\r\n"


def test_miss_and_misread_rates_are_seeded() -> None:
    def run(seed: int) -> tuple[int, int, list[bytes]]:
        enc = ScanEncoder(ScanFaults(miss=0.02, misread=0.005), seed=seed)
        for _ in range(4000):
            enc.encode(SimCode("]d2", "0108934567890120"))
        return enc.stats.missed, enc.stats.misread, enc.stats.sent

    first, again = run(1), run(1)
    assert first == again
    missed, misread, sent = first
    assert 40 <= missed <= 130
    assert 5 <= misread <= 40
    assert sum(w != b"]d20108934567890120\r\n" for w in sent) == misread


def test_code_from_text_forms() -> None:
    assert code_from_text("(01)08934567890120(10)A(21)B") == SimCode(
        "]d2", "010893456789012010A\x1d21B"
    )
    assert code_from_text("]C100389345678901234563") == SimCode("]C1", "00389345678901234563")
    assert code_from_text("]d201089345678901201" + "0A<GS>21B").data.endswith("\x1d21B")
    assert code_from_text("hello") == SimCode("]Q1", "hello")
    with pytest.raises(ValueError, match="not a GS1 element string"):
        code_from_text("(01)123")
    with pytest.raises(ValueError, match="empty"):
        code_from_text("  ")


def test_fault_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match="miss must be a probability"):
        ScanFaults(miss=1.5)
