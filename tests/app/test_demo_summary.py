"""How the demo's summary counts lost events."""

from __future__ import annotations

from app.demo.stack import lost_events


def test_nothing_is_lost_when_every_event_seen_is_stored() -> None:
    assert lost_events({"a", "b"}, {"a", "b"}, set(), expected=2) == 0


def test_an_event_seen_but_not_stored_is_lost() -> None:
    assert lost_events({"a", "b"}, {"a"}, set(), expected=2) == 1


def test_a_stored_event_whose_receipt_came_after_the_stop_is_not_lost() -> None:
    # The agent stopped before the server's receipt arrived: the row is still in its outbox.
    assert lost_events({"a", "b"}, {"a", "b"}, {"b"}, expected=2) == 0


def test_an_event_left_unsent_in_an_outbox_is_lost_to_the_run() -> None:
    assert lost_events({"a"}, {"a"}, {"b"}, expected=2) == 1


def test_events_the_reports_count_but_nobody_saw_are_lost() -> None:
    assert lost_events({"a"}, {"a"}, set(), expected=3) == 2
    assert lost_events({"a"}, {"a"}, {"b"}, expected=3) == 2
