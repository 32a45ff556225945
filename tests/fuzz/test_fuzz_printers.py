"""Fuzz the printer status parsers: Zebra ``~HS`` replies and ESC/POS ``DLE EOT`` bytes.

Only :class:`~lineside.codecs.zpl_status.StatusReplyError` (an ``InvalidInput``) may
escape. A status that parses is formatted back by the simulator's formatter and parses
to the same status; STX/ETX framing gives the same frames in any chunking.
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from lineside.codecs.escpos import STATUS_REQUESTS, format_dle_eot, parse_dle_eot
from lineside.codecs.zpl_status import (
    HostQueryStatus,
    PrinterStatus,
    StatusReplyError,
    format_host_query,
    format_host_status,
    parse_host_query,
    parse_host_status,
    parse_status_replies,
    split_frames,
)
from lineside.errors import InvalidInput
from tests.fuzz.support import (
    InputCounter,
    fuzz_settings,
    hostile_bytes,
    long_bytes,
    mutated_bytes,
    returns_or_refuses,
    splits,
)

statuses = st.builds(
    PrinterStatus,
    online=st.just(True),
    paper_out=st.booleans(),
    ribbon_out=st.booleans(),
    head_open=st.booleans(),
    paused=st.booleans(),
    buffer_full=st.booleans(),
    formats_in_buffer=st.integers(0, 999),
    labels_remaining=st.integers(0, 99_999_999),
    partial_format=st.booleans(),
)
HS_SEEDS = [
    format_host_status(PrinterStatus()),
    format_host_status(PrinterStatus(paper_out=True, head_open=True, formats_in_buffer=12)),
    format_host_status(PrinterStatus(paused=True, labels_remaining=5, partial_format=True)),
    # A real printer's reply, with its fixed-width fields.
    b"\x02030,0,0,0812,000,0,0,0,000,0,0,0\x03\r\n"
    b"\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n"
    b"\x021234,0\x03\r\n",
]


def _check_host_status(reply: bytes, inputs: InputCounter) -> None:
    inputs.tried("printers.parse_host_status")
    assert issubclass(StatusReplyError, InvalidInput)
    status = returns_or_refuses(lambda: parse_host_status(reply), StatusReplyError)
    if status is None:
        return
    assert status.formats_in_buffer >= 0
    assert status.labels_remaining >= 0
    assert status.ready == (not status.faults)
    if status.formats_in_buffer <= 999 and status.labels_remaining <= 99_999_999:
        assert parse_host_status(format_host_status(status)) == status


@fuzz_settings()
@given(reply=hostile_bytes(max_size=120))
def test_host_status_random_bytes(reply: bytes, inputs: InputCounter) -> None:
    _check_host_status(reply, inputs)


@fuzz_settings()
@given(reply=mutated_bytes(HS_SEEDS))
def test_host_status_mutations(reply: bytes, inputs: InputCounter) -> None:
    _check_host_status(reply, inputs)


@fuzz_settings()
@given(status=statuses)
def test_host_status_round_trip(status: PrinterStatus, inputs: InputCounter) -> None:
    inputs.tried("printers.parse_host_status")
    assert parse_host_status(format_host_status(status)) == status


@fuzz_settings(0.25)
@given(
    reply=st.one_of(
        long_bytes(prefix=b"\x02"),
        st.builds(lambda n: b"\x02\x03" * n, st.integers(10_000, 500_000)),
        st.builds(
            lambda n: (
                b"\x02030,0,0,0812," + b"9" * n + b",0,0,0,000,0,0,0\x03"
                b"\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\x021234,0\x03"
            ),
            st.integers(1, 10_000),
        ),
    )
)
def test_host_status_long_reply(reply: bytes, inputs: InputCounter) -> None:
    _check_host_status(reply, inputs)


@fuzz_settings()
@given(data=st.data(), stream=st.one_of(hostile_bytes(), mutated_bytes(HS_SEEDS)))
def test_split_frames_any_chunking(
    data: st.DataObject, stream: bytes, inputs: InputCounter
) -> None:
    inputs.tried("printers.split_frames")
    whole, rest = split_frames(stream)
    frames: list[bytes] = []
    pending = b""
    for chunk in data.draw(splits(stream)):
        got, pending = split_frames(pending + chunk)
        frames.extend(got)
    assert (frames, pending) == (whole, rest)
    for frame in frames:
        assert b"\x03" not in frame
    assert rest == b"" or rest.startswith(b"\x02")


replies = st.fixed_dictionaries(
    {},
    optional={n: st.one_of(st.integers(0, 255), st.integers()) for n in (*STATUS_REQUESTS, 0, 5)},
)


@fuzz_settings()
@given(replies=replies)
def test_dle_eot_random_replies(replies: dict[int, int], inputs: InputCounter) -> None:
    inputs.tried("printers.parse_dle_eot")
    status = returns_or_refuses(lambda: parse_dle_eot(replies), StatusReplyError)
    if status is None:
        return
    assert status.ready == (not status.faults)
    assert status.formats_in_buffer == 0
    assert status.labels_remaining == 0


@fuzz_settings()
@given(
    online=st.booleans(),
    head_open=st.booleans(),
    paper_out=st.booleans(),
    paper_near_end=st.booleans(),
)
def test_dle_eot_round_trip(
    online: bool, head_open: bool, paper_out: bool, paper_near_end: bool, inputs: InputCounter
) -> None:
    inputs.tried("printers.parse_dle_eot")
    status = PrinterStatus(
        online=online, head_open=head_open, paper_out=paper_out, paper_near_end=paper_near_end
    )
    replies = {n: format_dle_eot(n, status)[0] for n in STATUS_REQUESTS}
    parsed = parse_dle_eot(replies)
    for name in ("online", "head_open", "paper_out", "paper_near_end"):
        assert getattr(parsed, name) == getattr(status, name), name
    assert {f.name for f in fields(parsed)} == {f.name for f in fields(status)}


# --- ~HQES (host query) ------------------------------------------------------------------

flags64 = st.integers(0, 2**64 - 1)


@fuzz_settings()
@given(
    reply=st.one_of(
        hostile_bytes(max_size=160),
        st.builds(
            lambda errors, warnings: format_host_query(HostQueryStatus(errors, warnings)),
            flags64,
            flags64,
        ).flatmap(lambda seed: mutated_bytes([seed])),
    ),
    host_query=st.booleans(),
)
def test_host_query_random_and_mutated(
    reply: bytes, host_query: bool, inputs: InputCounter
) -> None:
    inputs.tried("printers.parse_host_query")
    query = returns_or_refuses(partial(parse_host_query, reply), StatusReplyError)
    if query is not None:
        assert 0 <= query.errors < 2**64
        assert 0 <= query.warnings < 2**64
        assert parse_host_query(format_host_query(query)) == query
    inputs.tried("printers.parse_status_replies")
    both = HS_SEEDS[0] + reply
    status = returns_or_refuses(
        partial(parse_status_replies, both, host_query=host_query), StatusReplyError
    )
    if status is not None:
        assert status.ready == (not status.faults)


@fuzz_settings()
@given(errors=flags64, warnings=flags64)
def test_host_query_round_trip(errors: int, warnings: int, inputs: InputCounter) -> None:
    inputs.tried("printers.parse_host_query")
    query = HostQueryStatus(errors, warnings)
    assert parse_host_query(format_host_query(query)) == query
