"""Validating a batch at once says exactly what validating each event alone says."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from server.ingest.validation import EpcisValidator, event_problems
from tests.server.factories import aggregation_event, object_event, sgtin, sscc


def _variants() -> list[dict[str, Any]]:
    good = object_event([sgtin(1)])
    variants = [good, aggregation_event(sscc(1), [sgtin(2)])]
    changes: tuple[dict[str, Any], ...] = (
        {"action": "MOVE"},
        {"bizStep": "packng"},
        {"eventTimeZoneOffset": "7"},
        {"epcList": []},
        {"type": "NoSuchEvent"},
        {"eventTime": 5},
        {"disposition": "nowhere"},
    )
    for change in changes:
        variants.append(copy.deepcopy(good) | change)
    return variants


VARIANTS = _variants()


@settings(max_examples=150)
@given(st.lists(st.sampled_from(range(len(VARIANTS))), max_size=12))
def test_many_matches_one_by_one(picks: list[int]) -> None:
    events = [copy.deepcopy(VARIANTS[n]) for n in picks]
    assert EpcisValidator().many(events) == [event_problems(e) for e in events]


def test_many_keeps_each_problem_with_its_event() -> None:
    good, typo = VARIANTS[0], copy.deepcopy(VARIANTS[0]) | {"bizStep": "packng"}
    problems = EpcisValidator().many([good, typo, good])
    assert problems[0] == problems[2] == []
    assert problems[1] == ["event.bizStep: 'packng' is not a CBV 2.0 business step"]


def test_single_call_is_the_batch_of_one() -> None:
    event = copy.deepcopy(VARIANTS[0]) | {"action": "MOVE"}
    assert EpcisValidator()(event) == event_problems(event) != []
