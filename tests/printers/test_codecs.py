"""Sans-I/O codecs: ~HS status, DLE EOT, GS1 barcode data, the ZPL tokenizer."""

from __future__ import annotations

import contextlib

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from lineside.codecs.escpos import format_dle_eot, parse_dle_eot
from lineside.codecs.render import render_zpl
from lineside.codecs.zpl import (
    datamatrix_gs1_data,
    escape_text,
    gs1_128_data,
    parse_commands,
    unescape_field,
)
from lineside.codecs.zpl_status import (
    PrinterStatus,
    StatusReplyError,
    format_host_status,
    parse_host_status,
)
from lineside.errors import InvalidInput
from lineside.gs1 import GS1Message

_statuses = st.builds(
    PrinterStatus,
    paper_out=st.booleans(),
    ribbon_out=st.booleans(),
    head_open=st.booleans(),
    paused=st.booleans(),
    buffer_full=st.booleans(),
    formats_in_buffer=st.integers(0, 999),
    labels_remaining=st.integers(0, 99_999_999),
    partial_format=st.booleans(),
    head_too_hot=st.booleans(),
)


@given(_statuses)
def test_host_status_roundtrip(status: PrinterStatus) -> None:
    assert parse_host_status(format_host_status(status)) == status


@given(st.binary(max_size=200))
def test_host_status_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(StatusReplyError):
        parse_host_status(data)


def test_host_status_errors_name_the_field() -> None:
    good = format_host_status(PrinterStatus())
    with pytest.raises(StatusReplyError, match="expected 3 framed strings, got 2"):
        parse_host_status(good[: good.rfind(b"\x02")])
    with pytest.raises(StatusReplyError, match=r"string 1 field 2 \(paper out\)"):
        parse_host_status(good.replace(b"030,0", b"030,X", 1))


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_dle_eot_roundtrip(online: bool, paper_out: bool, head_open: bool, near: bool) -> None:
    status = PrinterStatus(
        online=online, paper_out=paper_out, head_open=head_open, paper_near_end=near
    )
    replies = {n: format_dle_eot(n, status)[0] for n in (1, 2, 3, 4)}
    assert parse_dle_eot(replies) == status


def test_dle_eot_garbage() -> None:
    with pytest.raises(StatusReplyError, match="0xFF is not a status byte"):
        parse_dle_eot({1: 0xFF, 2: 0x12, 3: 0x12, 4: 0x12})


@given(st.text(max_size=60))
def test_escape_roundtrip_and_safe(text: str) -> None:
    escaped = escape_text(text)
    assert not set(escaped) & set("^~")
    assert escaped.isascii()
    assert unescape_field(escaped.encode("ascii")) == text.encode("utf-8", "surrogatepass")


@given(st.binary(max_size=300))
def test_tokenizer_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        parse_commands(data)


_commands = st.lists(
    st.tuples(
        st.sampled_from(["^", "~"]),
        st.sampled_from(["FO", "FD", "FS", "BX", "XA", "XZ", "HS", "CI"]),
        st.text(alphabet="0123456789,ABCxyz \n", max_size=12),
        st.text(alphabet=" \r\n", max_size=3),
    ),
    max_size=12,
)


@given(st.text(alphabet=" \r\n", max_size=4), _commands)
def test_tokenizer_gives_back_each_command_with_its_line(
    leading: str, written: list[tuple[str, str, str, str]]
) -> None:
    data = leading + "".join(prefix + name + params + gap for prefix, name, params, gap in written)
    parsed = parse_commands(data.encode("ascii"))
    expected = []
    line = 1 + leading.count("\n")
    for prefix, name, params, gap in written:
        expected.append((prefix, name, (params + gap).rstrip("\r\n"), line))
        line += (params + gap).count("\n")
    assert [(c.prefix, c.name, c.params.decode(), c.line) for c in parsed] == expected


_cset82 = st.text(
    alphabet=st.sampled_from(
        "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=40, deadline=None)
@given(lot=_cset82, serial=_cset82)
def test_gs1_symbols_decode_to_the_message(lot: str, serial: str) -> None:
    message = GS1Message.from_pairs([("01", "08934567890120"), ("10", lot), ("21", serial)])
    zpl = (
        "^XA^PW1400^LL400^FO20,20^BXN,6,200,,,,_^FH\\^FD" + datamatrix_gs1_data(message) + "^FS"
        "^BY2^FO20,250^BCN,100,N,N,N^FH\\^FD" + gs1_128_data(message) + "^FS^XZ"
    )
    image = render_zpl(zpl.encode("ascii"), engine="builtin", width=1400, height=400)
    found = {r.symbology_identifier: r.text for r in zxingcpp.read_barcodes(image)}
    # zxing-cpp's HRI does not escape a "(" inside a value; lineside's bracketed form does.
    expected = message.as_bracketed().replace("\\(", "(")
    assert found == {"]d2": expected, "]C1": expected}
