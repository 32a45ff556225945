"""Compressed GS1 Digital Link URIs: known vectors, round trips and precise errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.errors import DigitalLinkError
from lineside.gs1 import parse_digital_link
from lineside.gs1.compression import (
    compress_digital_link,
    decompress_digital_link,
)

# Compressed forms produced by an independent implementation of GS1 Digital Link:
# Compression (its AIs in another order than ours, which the format allows).
VECTORS = [
    ("https://id.gs1.org/ARBAe32ZkA", "https://id.gs1.org/01/08934567890120"),
    (
        "https://id.gs1.org/ARBAe32ZkCDKXtpt0LoRv5CxJag",
        "https://id.gs1.org/01/08934567890120/10/L2026/21/S1?17=271231",
    ),
    (
        "https://id.example.vn/ARFKk4XB0CELBhQ17EhBRgcg",
        "https://id.example.vn/01/09506000134376/10/ABC%2F1/21/12345",
    ),
    ("https://id.gs1.org/ABPWtr7clWTQ", "https://id.gs1.org/00/089345678912345677"),
    ("https://id.gs1.org/QUggPbE30Q", "https://id.gs1.org/414/8934567000017"),
    ("https://id.gs1.org/JUI6vEFIID2xN9E", "https://id.gs1.org/414/8934567000017/254/abc"),
    ("https://id.gs1.org/ARBAe32ZkEJMFDZY", "https://id.gs1.org/01/08934567890120/21/0a1b2c"),
    ("https://id.gs1.org/ARBAe32ZkEKJViQ", "https://id.gs1.org/01/08934567890120/21/AB12"),
    (
        "https://id.gs1.org/ARBAe32ZkC6Eb-QseP2RiBgA-g",
        "https://id.gs1.org/01/08934567890120/21/x-y?17=271231&3103=000500",
    ),
]


@pytest.mark.parametrize(("compressed", "uncompressed"), VECTORS)
def test_known_vectors_decompress(compressed: str, uncompressed: str) -> None:
    assert decompress_digital_link(compressed) == uncompressed


def test_numeric_lot_keeps_its_leading_zeros() -> None:
    uri = "https://id.gs1.org/01/08934567890120/10/0042"
    assert compress_digital_link(uri) == "https://id.gs1.org/ARBAe32ZkCAIAVA"
    assert decompress_digital_link("https://id.gs1.org/ARBAe32ZkCAIAVA") == uri


def _segment(bits: str) -> str:
    bits += "0" * (-len(bits) % 6)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


SERIAL_S1 = "011" + "00010" + "010010" + "110101"  # base64 encoding, 2 characters, "S1"


def test_optimisation_code_for_gtin_lot_serial_expiry() -> None:
    # 1A stands for (01)(10)(21)(17): the GTIN's 47 bits, then each value.
    bits = "00011010" + f"{8934567890120:047b}"
    bits += "000" + "00010" + f"{42:07b}"  # lot "42", numeric
    bits += SERIAL_S1 + f"{271231:020b}"
    assert decompress_digital_link(f"https://id.gs1.org/{_segment(bits)}") == (
        "https://id.gs1.org/01/08934567890120/10/42/21/S1?17=271231"
    )


def test_partly_compressed_keeps_the_primary_key_in_the_path() -> None:
    segment = _segment("00100001" + SERIAL_S1 + "00010111" + f"{271231:020b}")
    assert decompress_digital_link(f"https://id.gs1.org/01/08934567890120/{segment}") == (
        "https://id.gs1.org/01/08934567890120/21/S1?17=271231"
    )


def test_non_gs1_pairs_come_back_as_query_parameters() -> None:
    key = "".join(
        f"{'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'.index(c):06b}" for c in "src"
    )
    pair = "1111" + f"{3:07b}" + key + "100" + f"{2:07b}" + f"{ord('q'):07b}{ord('r'):07b}"
    gtin = "00000001" + f"{8934567890120:047b}"
    assert decompress_digital_link(f"https://id.gs1.org/{_segment(gtin + pair)}") == (
        "https://id.gs1.org/01/08934567890120?src=qr"
    )


def test_query_parameters_are_kept() -> None:
    assert decompress_digital_link("https://id.gs1.org/ARBAe32ZkA/?linkType=all") == (
        "https://id.gs1.org/01/08934567890120?linkType=all"
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://id.gs1.org/AB", "'AB' is not a compressed path segment"),
        ("https://id.gs1.org/ARBAe32", "data ends"),
        ("https://id.gs1.org/u7AAAAAA", "unknown code BB"),
        ("ftp://id.gs1.org/ARBAe32ZkA", "must start with http:// or https://"),
        ("https://id.gs1.org/ARBAe3-ZkA", "Digital Link"),
    ],
)
def test_errors_say_what_is_wrong(uri: str, message: str) -> None:
    with pytest.raises(DigitalLinkError, match=message):
        parse_digital_link(decompress_digital_link(uri))


SERIAL = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._",
    min_size=1,
    max_size=20,
)


@given(serial=SERIAL, lot=SERIAL, date=st.sampled_from(["271231", "260100", "300615"]))
def test_decompress_inverts_compress(serial: str, lot: str, date: str) -> None:
    uri = f"https://id.example.vn/01/08934567890120/10/{lot}/21/{serial}?17={date}"
    uncompressed = parse_digital_link(uri)
    again = decompress_digital_link(compress_digital_link(uri))
    assert parse_digital_link(again) == uncompressed
