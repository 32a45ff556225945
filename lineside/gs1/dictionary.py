"""The GS1 Barcode Syntax Dictionary: what each Application Identifier (AI) holds.

The bundled dictionary file is parsed once, on first use, into :class:`AIDefinition`
entries; :func:`syntax_dictionary` returns the cached :class:`SyntaxDictionary`.

>>> d = syntax_dictionary()
>>> d["17"].title, d["17"].fnc1_required, d["17"].max_length
('USE BY or EXPIRY', False, 6)
>>> d["21"].requires
((('01',), ('03',), ('8006',)),)
>>> d.match_ai("21ABC")
'21'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from itertools import product
from typing import Literal

from lineside.errors import GS1Error
from lineside.gs1.linters import CSET39, CSET82, LINTER_NAMES, LintFailure, describe, linter

__all__ = [
    "AIDefinition",
    "Component",
    "SyntaxDictionary",
    "ai_matches",
    "parse_dictionary",
    "syntax_dictionary",
]

_TYPE_LINTER = {"N": "csetnumeric", "X": "cset82", "Y": "cset39", "Z": "cset64"}
_COMPONENT = re.compile(r"^(\[?)([NXYZ])(\.\.)?(\d+)(\]?)((?:,[a-z0-9]+)*)$")
_FLAG_CHARS = frozenset("*!?\"$%&'()+,-./:;<=>@[\\]^_`{|}~")
_AI_RANGE = re.compile(r"^(\d{2,4})(?:-(\d{2,4}))?$")

ComponentType = Literal["N", "X", "Y", "Z"]

# Regular-expression classes equal to the character-set linters of the component types;
# Z (base64url with padding rules) has none, so its linter always runs.
_TYPE_CLASS = {
    "N": "[0-9]",
    "X": "[" + "".join(re.escape(c) for c in CSET82) + "]",
    "Y": "[" + "".join(re.escape(c) for c in CSET39) + "]",
}

Lint = Callable[[str], LintFailure | None]


@functools.cache
def _checks(kind: str, names: tuple[str, ...]) -> tuple[Lint, ...]:
    return tuple(linter(name) for name in (_TYPE_LINTER[kind], *names))


def expand_pattern(pattern: str) -> frozenset[str]:
    """Every AI a dictionary pattern stands for (``n`` is any digit).

    >>> sorted(expand_pattern("310n"))[:3], len(expand_pattern("31nn"))
    (['3100', '3101', '3102'], 100)
    """
    choices = ["0123456789" if char == "n" else char for char in pattern]
    return frozenset("".join(chars) for chars in product(*choices))


def _fast_layout(
    components: tuple[Component, ...],
) -> tuple[re.Pattern[str] | None, tuple[tuple[int, int | None, Lint], ...]]:
    """A whole-value pattern (lengths and character sets) plus the remaining linters at
    fixed offsets, or ``(None, ())`` when the component offsets depend on the value.

    Offsets are fixed when every component but the last has a fixed length and the
    optional components all come last.
    """
    lints: list[tuple[int, int | None, Lint]] = []
    pieces: list[tuple[str, bool]] = []
    offset = 0
    seen_optional = False
    for index, component in enumerate(components):
        last = index == len(components) - 1
        fixed = component.min_length == component.max_length
        if (not fixed and not last) or (seen_optional and not component.optional):
            return None, ()
        seen_optional = seen_optional or component.optional
        names = component.linters
        char_class = _TYPE_CLASS.get(component.kind)
        if char_class is None:
            char_class = r"[\s\S]"
            names = (_TYPE_LINTER[component.kind], *names)
        size = (
            f"{{{component.max_length}}}"
            if fixed
            else f"{{{component.min_length},{component.max_length}}}"
        )
        pieces.append((char_class + size, component.optional))
        end = offset + component.max_length if fixed and not last else None
        lints.extend((offset, end, linter(name)) for name in names)
        offset += component.max_length
    pattern = ""
    for piece, optional in reversed(pieces):
        pattern = f"(?:{piece}{pattern})?" if optional else piece + pattern
    return re.compile(pattern), tuple(lints)


@dataclass(frozen=True, slots=True)
class Component:
    """One component of an AI's data field, e.g. ``N3,iso3166`` or ``[X..17]``."""

    kind: ComponentType
    min_length: int
    max_length: int
    optional: bool
    #: Linters applied after the character-set check, in dictionary order.
    linters: tuple[str, ...]

    def check(self, text: str) -> LintFailure | None:
        """Check the character set, then every linter; the first failure wins."""
        for check in _checks(self.kind, self.linters):
            failure = check(text)
            if failure is not None:
                return failure
        return None


@dataclass(frozen=True, slots=True)
class AIDefinition:
    """Everything the dictionary says about one AI."""

    ai: str
    title: str
    #: False for the predefined-length AIs (flag ``*``) that need no FNC1 after them.
    fnc1_required: bool
    #: Permitted as a GS1 Digital Link data attribute (flag ``?``).
    dl_data_attribute: bool
    components: tuple[Component, ...]
    #: Each ``req=`` attribute: one of its alternatives must be present; an alternative
    #: is a tuple of AI patterns that must all be present (``01+21``).
    requires: tuple[tuple[tuple[str, ...], ...], ...]
    #: AI patterns (``310n``) that may not appear with this AI.
    excludes: tuple[str, ...]
    #: This AI is a Digital Link primary key.
    dl_primary_key: bool
    #: Alternative ordered qualifier sequences after the primary key (``22,10,21|235``).
    dl_qualifiers: tuple[tuple[str, ...], ...]

    #: Shortest and longest valid value lengths (derived from the components).
    min_length: int = 0
    max_length: int = 0
    #: The ``ex=`` patterns expanded to concrete AIs.
    excluded_ais: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    #: The ``req=`` attributes with each pattern expanded to its set of concrete AIs.
    required_ais: tuple[tuple[tuple[frozenset[str], ...], ...], ...] = field(
        default=(), compare=False, repr=False
    )
    _shape: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _lints: tuple[tuple[int, int | None, Lint], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        # Precomputed once: these are read for every element of every scan.
        minimum = sum(c.min_length for c in self.components if not c.optional)
        object.__setattr__(self, "min_length", minimum)
        object.__setattr__(self, "max_length", sum(c.max_length for c in self.components))
        object.__setattr__(
            self,
            "excluded_ais",
            frozenset(ai for pattern in self.excludes for ai in expand_pattern(pattern)),
        )
        object.__setattr__(
            self,
            "required_ais",
            tuple(
                tuple(tuple(expand_pattern(p) for p in group) for group in alternatives)
                for alternatives in self.requires
            ),
        )
        shape, lints = _fast_layout(self.components)
        object.__setattr__(self, "_shape", shape)
        object.__setattr__(self, "_lints", lints)

    def is_valid(self, value: str) -> bool:
        """Whether ``value`` passes every check of :meth:`check_value`, without the
        reasons: one precompiled pattern for lengths and character sets, then the
        component linters.

        >>> expiry = syntax_dictionary()["17"]
        >>> expiry.is_valid("261231"), expiry.is_valid("2612"), expiry.is_valid("261232")
        (True, False, False)
        """
        shape = self._shape
        if shape is None:
            return self._check_components(value) is None
        if shape.fullmatch(value) is None:
            return False
        size = len(value)
        for start, end, check in self._lints:
            # Absent optional components (the pattern allowed them out) are not linted.
            if start < size and check(value[start:end]) is not None:
                return False
        return True

    @property
    def fixed_length(self) -> bool:
        """All components are mandatory and of fixed length."""
        return all(not c.optional and c.min_length == c.max_length for c in self.components)

    def check_value(self, value: str) -> tuple[str, LintFailure] | None:
        """Validate ``value`` against the components.

        Returns ``None`` when it is valid, or a reason and the failing span (relative to
        the whole value).

        >>> syntax_dictionary()["17"].check_value("260231")
        ('not a valid day', LintFailure(code='ILLEGAL_DAY', start=4, end=6))
        """
        if self._shape is not None and self.is_valid(value):
            return None
        return self._check_components(value)

    def _check_components(self, value: str) -> tuple[str, LintFailure] | None:
        """The reference check: components in order, the first failure wins."""
        if len(value) < self.min_length:
            return (
                f"too short, expected at least {self.min_length} characters",
                LintFailure("TOO_SHORT", 0, len(value)),
            )
        if len(value) > self.max_length:
            return (
                f"too long, expected at most {self.max_length} characters",
                LintFailure("TOO_LONG", self.max_length, len(value)),
            )
        position = 0
        for component in self.components:
            if position >= len(value) and component.optional:
                break
            if component.min_length == component.max_length:
                part = value[position : position + component.max_length]
                if len(part) < component.min_length:
                    return (
                        f"too short, expected {component.min_length} more characters",
                        LintFailure("TOO_SHORT", position, len(value)),
                    )
            else:
                part = value[position : position + component.max_length]
            failure = component.check(part)
            if failure is not None:
                shifted = LintFailure(
                    failure.code, failure.start + position, failure.end + position
                )
                return describe(failure.code), shifted
            position += len(part)
        if position < len(value):
            return (
                f"too long, expected at most {position} characters",
                LintFailure("TOO_LONG", position, len(value)),
            )
        return None


def ai_matches(pattern: str, ai: str) -> bool:
    """Whether ``ai`` matches a dictionary pattern where ``n`` stands for any digit.

    >>> ai_matches("310n", "3103"), ai_matches("31nn", "3203")
    (True, False)
    """
    if len(pattern) != len(ai):
        return False
    return all(p in ("n", a) for p, a in zip(pattern, ai, strict=True))


class SyntaxDictionary:
    """The parsed dictionary, indexed by AI.

    Built once by :func:`syntax_dictionary`; lookups are plain dictionary reads.
    """

    __slots__ = ("_ai_lengths", "_associations", "_entries", "release")

    #: How many AI combinations :meth:`associations_hold` remembers; a line reads the
    #: same few, so this bound is only a guard against hostile input.
    ASSOCIATION_MEMO_SIZE = 1024

    def __init__(self, entries: dict[str, AIDefinition], release: str) -> None:
        self._entries = dict(entries)
        self.release = release
        self._associations: dict[tuple[str, ...], bool] = {}
        # GS1 fixes an AI's length by its first two digits; the known AIs show it.
        lengths: dict[str, set[int]] = {}
        for ai in self._entries:
            lengths.setdefault(ai[:2], set()).add(len(ai))
        self._ai_lengths = {prefix: min(sizes) for prefix, sizes in lengths.items()}

    def __getitem__(self, ai: str) -> AIDefinition:
        try:
            return self._entries[ai]
        except KeyError:
            raise GS1Error(f"AI ({ai}) is not in the GS1 syntax dictionary") from None

    def __contains__(self, ai: object) -> bool:
        return ai in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, ai: str) -> AIDefinition | None:
        """The definition of ``ai`` or ``None``."""
        return self._entries.get(ai)

    @property
    def entries(self) -> Mapping[str, AIDefinition]:
        """The definitions by AI, read-only (for lookups in hot loops)."""
        return self._entries

    def ais(self) -> tuple[str, ...]:
        """Every AI, in dictionary order."""
        return tuple(self._entries)

    def associations_hold(self, ais: tuple[str, ...]) -> bool:
        """Whether no AI in ``ais`` excludes another (``ex=``) and every ``req=`` is met.

        The answer depends on the AIs alone, so it is remembered per AI sequence.

        >>> d = syntax_dictionary()
        >>> d.associations_hold(("01", "10", "21")), d.associations_hold(("21",))
        (True, False)
        """
        memo = self._associations
        known = memo.get(ais)
        if known is not None:
            return known
        present = frozenset(ais)
        holds = True
        for ai in present:
            definition = self._entries.get(ai)
            if definition is None:
                continue
            excluded = definition.excluded_ais
            if excluded and not excluded.isdisjoint(present - {ai}):
                holds = False
                break
            if not all(
                any(all(not group.isdisjoint(present) for group in alt) for alt in alternatives)
                for alternatives in definition.required_ais
            ):
                holds = False
                break
        if len(memo) >= self.ASSOCIATION_MEMO_SIZE:
            memo.clear()
        memo[ais] = holds
        return holds

    def unknown_ai_length(self, text: str, start: int = 0) -> int | None:
        """The length of an AI absent from the dictionary that starts ``text`` at
        ``start``, from the AIs sharing its first two digits; ``None`` if none do.

        >>> d = syntax_dictionary()
        >>> d.unknown_ai_length("8299ABC"), d.unknown_ai_length("89")
        (4, None)
        """
        prefix = text[start : start + 2]
        if len(prefix) != 2 or not (prefix.isascii() and prefix.isdigit()):
            return None
        return self._ai_lengths.get(prefix)

    def match_ai(self, text: str, start: int = 0) -> str | None:
        """The known AI that ``text`` starts with at ``start``, or ``None``.

        AIs are prefix-free, so at most one of the 2-, 3- and 4-digit candidates exists.
        """
        entries = self._entries
        for size in (2, 3, 4):
            candidate = text[start : start + size]
            if len(candidate) == size and candidate in entries:
                return candidate
        return None


def _parse_component(token: str, line_number: int) -> Component:
    match = _COMPONENT.match(token)
    if match is None:
        raise GS1Error(f"syntax dictionary line {line_number}: bad component {token!r}")
    opening, kind, variable, length, closing, linters_text = match.groups()
    if bool(opening) != bool(closing):
        raise GS1Error(f"syntax dictionary line {line_number}: unbalanced [] in {token!r}")
    names = tuple(name for name in linters_text.split(",") if name)
    unknown = [name for name in names if name not in LINTER_NAMES]
    if unknown:
        raise GS1Error(f"syntax dictionary line {line_number}: unknown linter {unknown[0]!r}")
    size = int(length)
    component_kind: ComponentType
    if kind == "N":
        component_kind = "N"
    elif kind == "X":
        component_kind = "X"
    elif kind == "Y":
        component_kind = "Y"
    else:
        component_kind = "Z"
    return Component(
        kind=component_kind,
        min_length=1 if variable else size,
        max_length=size,
        optional=bool(opening),
        linters=names,
    )


def _expand_range(text: str, line_number: int) -> list[str]:
    match = _AI_RANGE.match(text)
    if match is None:
        raise GS1Error(f"syntax dictionary line {line_number}: bad AI {text!r}")
    first, last = match.group(1), match.group(2) or match.group(1)
    if len(first) != len(last):
        raise GS1Error(f"syntax dictionary line {line_number}: bad AI range {text!r}")
    return [str(n).zfill(len(first)) for n in range(int(first), int(last) + 1)]


def parse_dictionary(text: str) -> SyntaxDictionary:
    """Parse the text of a GS1 Barcode Syntax Dictionary file.

    >>> d = parse_dictionary("91-92  ?  X..90  # INTERNAL")
    >>> d.ais(), d["92"].max_length
    (('91', '92'), 90)
    """
    entries: dict[str, AIDefinition] = {}
    release = "unknown"
    for line_number, raw_line in enumerate(text.splitlines(), start=1):
        stripped = raw_line.strip()
        if stripped.startswith("#"):
            if stripped.startswith("# Release:"):
                release = stripped.partition(":")[2].strip()
            continue
        body, _, title = raw_line.partition("#")
        tokens = body.split()
        if not tokens:
            continue
        ais = _expand_range(tokens[0], line_number)
        rest = tokens[1:]
        flags = ""
        if rest and all(char in _FLAG_CHARS for char in rest[0]):
            flags, rest = rest[0], rest[1:]
        components: list[Component] = []
        requires: list[tuple[tuple[str, ...], ...]] = []
        excludes: list[str] = []
        dl_primary_key = False
        dl_qualifiers: tuple[tuple[str, ...], ...] = ()
        for token in rest:
            key, equals, value = token.partition("=")
            if key == "req" and equals:
                requires.append(tuple(tuple(group.split("+")) for group in value.split(",")))
            elif key == "ex" and equals:
                excludes.extend(value.split(","))
            elif key == "dlpkey":
                dl_primary_key = True
                if equals:
                    dl_qualifiers = tuple(tuple(seq.split(",")) for seq in value.split("|"))
            elif key == "dlattr" or (key.isalpha() and key.islower() and not components):
                # Attributes this code does not use yet are tolerated, not misread.
                continue
            else:
                components.append(_parse_component(token, line_number))
        if not components:
            raise GS1Error(f"syntax dictionary line {line_number}: no specification")
        for ai in ais:
            entries[ai] = AIDefinition(
                ai=ai,
                title=title.strip(),
                fnc1_required="*" not in flags,
                dl_data_attribute="?" in flags,
                components=tuple(components),
                requires=tuple(requires),
                excludes=tuple(excludes),
                dl_primary_key=dl_primary_key,
                dl_qualifiers=dl_qualifiers,
            )
    return SyntaxDictionary(entries, release)


@functools.cache
def syntax_dictionary() -> SyntaxDictionary:
    """The bundled GS1 Barcode Syntax Dictionary, parsed on first call and cached."""
    text = (
        resources.files("lineside.gs1")
        .joinpath("data", "gs1-syntax-dictionary.txt")
        .read_text("utf-8")
    )
    return parse_dictionary(text)
