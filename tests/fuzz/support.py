"""Shared pieces of the fuzz suite: the active profile, the input counter and mutators.

Profiles are registered in ``tests/fuzz/conftest.py``; each test applies
:func:`fuzz_settings` so that only this folder follows them::

    @fuzz_settings()
    @given(text=hostile_text())
    def test_parse_never_crashes(text: str, inputs: InputCounter) -> None:
        inputs.tried("gs1.GS1Message.parse")
        ...
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st

#: The profile for CI and ``pytest``: small, derandomised, no deadline.
CI_PROFILE = "lineside-fuzz-ci"
#: The long-running profile used by ``scripts/fuzz``.
FUZZ_PROFILE = "fuzz"
#: ``LINESIDE_FUZZ_EXAMPLES=N`` selects the fuzz profile with N examples per test.
EXAMPLES_ENV = "LINESIDE_FUZZ_EXAMPLES"
PROFILE_ENV = "HYPOTHESIS_PROFILE"
#: Where the session writes its per-test input counts (read by ``scripts/fuzz``).
REPORT_ENV = "LINESIDE_FUZZ_REPORT"
DEFAULT_FUZZ_EXAMPLES = 20_000
CI_EXAMPLES = 100

#: Longest input the suite builds: parsers must refuse it early rather than chew on it.
MAX_INPUT = 1_000_000

T = TypeVar("T")


def fuzz_examples() -> int:
    """Examples per test for the fuzz profile (``$LINESIDE_FUZZ_EXAMPLES`` or 20,000)."""
    configured = os.environ.get(EXAMPLES_ENV, "").strip()
    if not configured:
        return DEFAULT_FUZZ_EXAMPLES
    try:
        count = int(configured)
    except ValueError:
        raise ValueError(f"{EXAMPLES_ENV}={configured!r}: expected a whole number") from None
    if count < 1:
        raise ValueError(f"{EXAMPLES_ENV}={configured!r}: expected at least 1")
    return count


def active_profile() -> str:
    """The fuzz profile when asked for by environment, otherwise the CI profile."""
    if os.environ.get(EXAMPLES_ENV, "").strip() or os.environ.get(PROFILE_ENV) == FUZZ_PROFILE:
        return FUZZ_PROFILE
    return CI_PROFILE


def fuzz_settings(share: float = 1.0) -> settings:
    """Settings for one fuzz test: the active profile, with ``share`` of its examples.

    A test whose inputs are expensive (megabyte strings) takes a smaller ``share``.

    >>> fuzz_settings(0.25).deadline is None
    True
    """
    base = settings.get_profile(active_profile())
    return settings(base, max_examples=max(1, round(base.max_examples * share)))


@dataclass
class InputCounter:
    """How many inputs each target saw, per test, and each test's outcome."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)

    def tried(self, target: str) -> None:
        """Count one input given to ``target`` by the test running now."""
        current = os.environ.get("PYTEST_CURRENT_TEST", "unknown").rsplit(" ", 1)[0]
        self.counts.setdefault(current, Counter())[target] += 1

    def record_outcome(self, nodeid: str, outcome: str) -> None:
        # A failure in any phase sticks; a later phase's "passed" must not hide it.
        if self.outcomes.get(nodeid) != "failed":
            self.outcomes[nodeid] = outcome

    def as_json(self) -> dict[str, Any]:
        nodeids = sorted(set(self.counts) | set(self.outcomes))
        return {
            "profile": active_profile(),
            "tests": {
                nodeid: {
                    "outcome": self.outcomes.get(nodeid, "unknown"),
                    "inputs": dict(self.counts.get(nodeid, {})),
                }
                for nodeid in nodeids
            },
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), indent=2, sort_keys=True), encoding="utf-8")


def returns_or_refuses(
    call: Callable[[], T], allowed: type[Exception] | tuple[type[Exception], ...]
) -> T | None:
    """``call()``'s result, or ``None`` when it raised one of ``allowed``.

    Any other exception escapes and fails the test: that is the finding.
    """
    try:
        return call()
    except allowed:
        return None


# --- unstructured input --------------------------------------------------------------------

#: Every code point, surrogates and controls included.
any_char = st.characters(codec=None, exclude_categories=[])
#: Lone surrogates: legal in a Python str (and in JSON "\ud800" escapes), not UTF-8.
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=[])
#: Bytes and characters that parsers treat specially: separators, brackets, escapes.
SPECIAL = "\x00\x02\x03\x1d\r\n\t ^()[]{}\\/?&=%#:;,.\"'~+-_|$*@!<>`"


def hostile_text(max_size: int = 200, extra: str = "") -> st.SearchStrategy[str]:
    """Text mixing any code point (surrogates, NUL, controls) with parser-special ones."""
    chars = st.one_of(any_char, st.sampled_from(SPECIAL + "0123456789" + extra), surrogates)
    return st.text(alphabet=chars, max_size=max_size)


def hostile_bytes(max_size: int = 200) -> st.SearchStrategy[bytes]:
    """Random bytes, often invalid UTF-8."""
    return st.binary(max_size=max_size)


def long_text(alphabet: str | None = None, min_size: int = 10_000) -> st.SearchStrategy[str]:
    """A short random chunk repeated to ``min_size`` .. :data:`MAX_INPUT` characters.

    Built by repetition so that a megabyte costs hypothesis nothing to generate.
    """
    chunk_chars = st.sampled_from(alphabet) if alphabet else st.one_of(any_char, st.just("0"))
    chunks = st.text(alphabet=chunk_chars, min_size=1, max_size=16)
    return st.builds(
        lambda chunk, total: (chunk * (total // len(chunk) + 1))[:total],
        chunks,
        st.integers(min_value=min_size, max_value=MAX_INPUT),
    )


def long_bytes(prefix: bytes = b"", min_size: int = 10_000) -> st.SearchStrategy[bytes]:
    """``prefix`` then a short random chunk repeated to ``min_size`` .. :data:`MAX_INPUT`."""
    return st.builds(
        lambda chunk, total: prefix + (chunk * (total // len(chunk) + 1))[:total],
        st.binary(min_size=1, max_size=16),
        st.integers(min_value=min_size, max_value=MAX_INPUT),
    )


# --- structure-aware mutation ---------------------------------------------------------------

_MUTATIONS = ("flip", "insert", "delete", "duplicate", "swap", "truncate")


@st.composite
def mutated_text(
    draw: st.DrawFn, seeds: Sequence[str], *, alphabet: str = "", max_mutations: int = 4
) -> str:
    """One of ``seeds`` with characters flipped, inserted, deleted, duplicated or swapped.

    Inserted characters come from ``alphabet`` (the grammar's own characters, which
    reach deeper than noise) or from any code point.
    """
    text = list(draw(st.sampled_from(seeds)))
    char = st.one_of(st.sampled_from(alphabet + SPECIAL + "0123456789"), any_char, surrogates)
    for _ in range(draw(st.integers(1, max_mutations))):
        operation = draw(st.sampled_from(_MUTATIONS))
        size = len(text)
        if operation == "insert" or size == 0:
            at = draw(st.integers(0, size))
            text[at:at] = draw(st.lists(char, min_size=1, max_size=4))
            continue
        at = draw(st.integers(0, size - 1))
        end = draw(st.integers(at + 1, min(size, at + 8)))
        if operation == "flip":
            text[at] = draw(char)
        elif operation == "delete":
            del text[at:end]
        elif operation == "duplicate":
            text[end:end] = text[at:end] * draw(st.integers(1, 3))
        elif operation == "swap":
            other = draw(st.integers(0, size - 1))
            text[at], text[other] = text[other], text[at]
        else:
            del text[draw(st.integers(0, size)) :]
    return "".join(text)


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: Sequence[bytes], *, max_mutations: int = 4) -> bytes:
    """One of ``seeds`` with bytes flipped, inserted, deleted, duplicated or swapped."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, max_mutations))):
        operation = draw(st.sampled_from(_MUTATIONS))
        size = len(data)
        if operation == "insert" or size == 0:
            at = draw(st.integers(0, size))
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
            continue
        at = draw(st.integers(0, size - 1))
        end = draw(st.integers(at + 1, min(size, at + 8)))
        if operation == "flip":
            data[at] = draw(st.integers(0, 255))
        elif operation == "delete":
            del data[at:end]
        elif operation == "duplicate":
            data[end:end] = data[at:end] * draw(st.integers(1, 3))
        elif operation == "swap":
            other = draw(st.integers(0, size - 1))
            data[at], data[other] = data[other], data[at]
        else:
            del data[draw(st.integers(0, size)) :]
    return bytes(data)


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values, small, with awkward scalars (huge ints, NaN-free floats)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text(max_size=20),
        st.sampled_from(["", "ADD", "OBSERVE", "ObjectEvent", "2024-01-01T00:00:00Z", "urn:x"]),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.text(max_size=8), inner, max_size=3),
        ),
        max_leaves=max_leaves,
    )


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _get(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


_JSON_MUTATIONS = ("replace", "delete", "insert", "duplicate", "retype", "mutate_string")


@st.composite
def mutated_json(
    draw: st.DrawFn,
    seeds: Sequence[Any],
    *,
    field_names: Sequence[str] = (),
    max_mutations: int = 3,
) -> Any:
    """A deep copy of one of ``seeds`` with fields deleted, added, duplicated or retyped.

    ``field_names`` are names from the grammar (``eventTime``, ``kind``...), added to
    objects so the mutant hits real code paths rather than "unknown field".
    """
    value = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    names = st.one_of(st.sampled_from([*field_names, "type", "@context"]), st.text(max_size=8))
    for _ in range(draw(st.integers(1, max_mutations))):
        path = draw(st.sampled_from(_paths(value)))
        operation = draw(st.sampled_from(_JSON_MUTATIONS))
        if not path:
            if operation in ("replace", "retype"):
                value = draw(json_values())
            elif isinstance(value, dict):
                value[draw(names)] = draw(json_values())
            continue
        parent = _get(value, path[:-1])
        key = path[-1]
        current = parent[key]
        if operation == "replace":
            parent[key] = draw(json_values())
        elif operation == "delete":
            del parent[key]
        elif operation == "insert":
            if isinstance(current, dict):
                current[draw(names)] = draw(json_values())
            elif isinstance(current, list):
                current.insert(draw(st.integers(0, len(current))), draw(json_values()))
            else:
                parent[key] = [current, draw(json_values())]
        elif operation == "duplicate":
            if isinstance(parent, list):
                parent.insert(key if isinstance(key, int) else 0, json.loads(json.dumps(current)))
            else:
                parent[draw(names)] = json.loads(json.dumps(current))
        elif operation == "retype":
            parent[key] = (
                str(current) if not isinstance(current, str) else draw(json_values(max_leaves=2))
            )
        elif isinstance(current, str):
            parent[key] = draw(mutated_text([current] if current else ["x"]))
        else:
            parent[key] = draw(json_values(max_leaves=2))
    return value


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut into chunks at arbitrary places (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]
