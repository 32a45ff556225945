"""The MQTT contract: topics, payload encoding and the errors for everything else."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside import contract
from lineside.contract import (
    Channel,
    LotCounts,
    ReconciliationReport,
    Topics,
    decode,
    encode,
    parse_topic,
    subscription,
)
from lineside.errors import ContractError, InvalidInput
from tests.support.contract_messages import EVENT_ID, MESSAGES

EXAMPLES = [message for _, message in MESSAGES]


def test_topics_of_a_line() -> None:
    topics = Topics("factory-1", "L1")
    assert topics.events == "lineside/v1/factory-1/L1/events"
    assert topics.commands == "lineside/v1/factory-1/L1/commands"
    assert topics.device_status("printer-1") == "lineside/v1/factory-1/L1/devices/printer-1/status"


@pytest.mark.parametrize("bad", ["", "+", "#", "a/b", "$SYS", "x" * 65, "dòng-1"])
def test_identifiers_refuse_wildcards_and_separators(bad: str) -> None:
    with pytest.raises(ContractError, match="is not a valid identifier"):
        Topics(bad, "L1")


def test_parse_topic_round_trips_every_channel() -> None:
    topics = Topics("s1", "L2")
    for channel in Channel:
        topic = (
            topics.device_status("cam-1")
            if channel is Channel.DEVICE_STATUS
            else f"{topics.prefix}/{channel.value}"
        )
        address = parse_topic(topic)
        assert (address.site, address.line, address.channel) == ("s1", "L2", channel)


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("other/v1/s/l/events", "expected 'lineside/v1/<site>/<line>/...'"),
        ("lineside/v2/s/l/events", "version 'v2' expected 'v1'"),
        ("lineside/v1/s/l/gossip", "unknown channel 'gossip'"),
        ("lineside/v1/s/l/devices/status", "unknown channel 'devices/status'"),
    ],
)
def test_parse_topic_names_the_bad_part(topic: str, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        parse_topic(topic)


def test_shared_subscription() -> None:
    assert subscription(Channel.DEVICE_STATUS) == "lineside/v1/+/+/devices/+/status"
    assert subscription(Channel.EVENTS, "agg") == "$share/agg/lineside/v1/+/+/events"


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.kind)
def test_every_message_round_trips(message: contract._Message) -> None:
    assert decode(encode(message)) == message


def test_decode_checks_the_topic() -> None:
    event = EXAMPLES[0]
    assert decode(encode(event), "lineside/v1/s1/L1/events") == event
    with pytest.raises(ContractError, match="payload line 'L1' does not match topic line 'L9'"):
        decode(encode(event), "lineside/v1/s1/L9/events")
    with pytest.raises(ContractError, match="cannot be sent on the 'commands' channel"):
        decode(encode(event), "lineside/v1/s1/L1/commands")
    status = EXAMPLES[2]
    with pytest.raises(ContractError, match="payload device 'printer-1' does not match"):
        decode(encode(status), "lineside/v1/s1/L1/devices/printer-2/status")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe", "payload is not UTF-8: byte 0 is invalid"),
        (b"{", "payload is not JSON: Expecting property name"),
        (b"[1]", "payload must be a JSON object, got list"),
        (b'{"kind": "ack"}', "schema_version None is not supported"),
        (b'{"schema_version": 2, "kind": "ack"}', "schema_version 2 is not supported"),
        (b'{"schema_version": 1, "kind": "gossip"}', "kind"),
        (b" " * (contract.MAX_PAYLOAD_BYTES + 1), "exceeds 524288 bytes"),
    ],
)
def test_decode_refuses_bad_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        decode(payload)


def test_event_must_carry_its_hash_id() -> None:
    bad = encode(EXAMPLES[0]).replace(EVENT_ID.encode(), b"urn:uuid:1")
    with pytest.raises(ContractError, match="event.eventID must be the EPCIS event hash"):
        decode(bad)
    data = json.loads(encode(EXAMPLES[0]))
    data["event"]["type"] = "Gossip"
    with pytest.raises(ContractError, match="event.type 'Gossip' is not one of"):
        decode(json.dumps(data).encode())


def test_naive_timestamps_are_refused() -> None:
    data = json.loads(encode(EXAMPLES[-1]))
    data["acked_at"] = "2026-11-28T08:30:00"
    with pytest.raises(ContractError, match="time-zone offset"):
        decode(json.dumps(data).encode())


def test_reconciliation_balance() -> None:
    lot = LotCounts(lot="L", allocated=10, commissioned=7, rejected=2, sampled=0, returned=0)
    assert lot.unaccounted == 1
    report = ReconciliationReport(site="s", line="l", work_order="w", lots=(lot,), cases=0)
    assert not report.balanced


@given(st.binary(max_size=2000))
def test_random_bytes_never_escape_the_exception_tree(payload: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        decode(payload)


@given(
    st.dictionaries(
        st.text(max_size=20),
        st.recursive(
            st.none() | st.integers() | st.text(),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        ),
        max_size=8,
    )
)
def test_random_objects_never_escape_the_exception_tree(data: dict[str, Any]) -> None:
    data.setdefault("schema_version", 1)
    with contextlib.suppress(InvalidInput):
        decode(json.dumps(data).encode())


def test_every_example_in_the_contract_document_decodes() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "mqtt-contract.md").read_text()
    sections = re.findall(r"### `(\w+)` on `([^`]+)`\n\n```json\n(.*?)\n```", doc, re.S)
    kinds = {kind for kind, _, _ in sections}
    assert kinds == {
        "event",
        "line_status",
        "device_status",
        "alarm",
        "reconciliation",
        "work_order",
        "serial_block",
        "ack",
        "receipt",
    }
    for kind, topic, body in sections:
        assert decode(body.encode(), topic).kind == kind
