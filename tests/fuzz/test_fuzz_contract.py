"""Fuzz the MQTT contract: ``decode(payload, topic)`` and ``parse_topic``.

Only :class:`~lineside.errors.ContractError` may escape; a decoded message re-encodes
to a payload that decodes to the same message, and a parsed topic is rebuilt exactly by
:class:`~lineside.contract.Topics`.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lineside.contract import (
    Channel,
    DeviceRole,
    DeviceState,
    DeviceStatus,
    LineState,
    LineStatus,
    Topics,
    decode,
    encode,
    parse_topic,
)
from lineside.errors import ContractError
from tests.fuzz.support import (
    InputCounter,
    fuzz_settings,
    hostile_bytes,
    hostile_text,
    json_values,
    long_bytes,
    mutated_bytes,
    mutated_json,
    mutated_text,
    returns_or_refuses,
)
from tests.support.contract_messages import MESSAGES

TOPIC_SEEDS = [topic for topic, _ in MESSAGES]
PAYLOAD_SEEDS: list[Any] = [json.loads(encode(message)) for _, message in MESSAGES]
FIELD_NAMES = sorted({key for payload in PAYLOAD_SEEDS for key in payload})
topics = st.one_of(
    st.none(), st.sampled_from(TOPIC_SEEDS), mutated_text(TOPIC_SEEDS, alphabet="/+#$")
)


def _decode(payload: bytes, topic: str | None, inputs: InputCounter) -> None:
    inputs.tried("contract.decode")
    message = returns_or_refuses(lambda: decode(payload, topic), ContractError)
    if message is None:
        return
    encoded = encode(message)
    assert decode(encoded, topic) == message
    if topic is not None:
        address = parse_topic(topic)
        site = getattr(message, "site", address.site)
        assert site == address.site


@fuzz_settings()
@given(payload=hostile_bytes(), topic=topics)
def test_decode_random_bytes(payload: bytes, topic: str | None, inputs: InputCounter) -> None:
    _decode(payload, topic, inputs)


@fuzz_settings()
@given(payload=mutated_json(PAYLOAD_SEEDS, field_names=FIELD_NAMES), topic=topics)
def test_decode_json_mutations(payload: Any, topic: str | None, inputs: InputCounter) -> None:
    _decode(json.dumps(payload).encode(), topic, inputs)


@fuzz_settings()
@given(payload=mutated_bytes([encode(message) for _, message in MESSAGES]), topic=topics)
def test_decode_byte_mutations(payload: bytes, topic: str | None, inputs: InputCounter) -> None:
    _decode(payload, topic, inputs)


@fuzz_settings()
@given(payload=st.dictionaries(st.sampled_from(FIELD_NAMES), json_values(), max_size=8))
def test_decode_random_fields(payload: dict[str, Any], inputs: InputCounter) -> None:
    payload.setdefault("schema_version", 1)
    _decode(json.dumps(payload).encode(), None, inputs)


@fuzz_settings(0.25)
@given(
    payload=st.one_of(
        long_bytes(prefix=b'{"schema_version":1,"kind":"ack","command_id":"'),
        st.builds(lambda n: b"[" * n, st.integers(1_000, 1_000_000)),
        st.builds(lambda n: b'{"a":' * n, st.integers(1_000, 200_000)),
    )
)
def test_decode_long_or_deep_payload_is_refused(payload: bytes, inputs: InputCounter) -> None:
    inputs.tried("contract.decode")
    assert returns_or_refuses(lambda: decode(payload), ContractError) is None


def _parse_topic(topic: str, inputs: InputCounter) -> None:
    inputs.tried("contract.parse_topic")
    address = returns_or_refuses(lambda: parse_topic(topic), ContractError)
    if address is None:
        return
    # What a topic names, a payload can carry: the same identifier rules on both sides.
    status = LineStatus(site=address.site, line=address.line, state=LineState.ONLINE)
    assert (status.site, status.line) == (address.site, address.line)
    rebuilt = Topics(address.site, address.line)
    if address.channel is Channel.DEVICE_STATUS:
        assert address.device is not None
        DeviceStatus(device=address.device, role=DeviceRole.VERIFY_SCANNER, state=DeviceState.OK)
        assert rebuilt.device_status(address.device) == topic
    else:
        assert getattr(rebuilt, address.channel.value) == topic


@fuzz_settings()
@given(
    topic=st.one_of(
        hostile_text(extra="/+#$lineside"), mutated_text(TOPIC_SEEDS, alphabet="/+#$\n")
    )
)
def test_parse_topic(topic: str, inputs: InputCounter) -> None:
    _parse_topic(topic, inputs)
