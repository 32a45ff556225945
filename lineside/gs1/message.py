"""GS1 element strings: AI + value pairs, in bracketed, raw (FNC1) and HRI forms.

>>> m = GS1Message.parse("(01)08934567890120(10)LOT7(21)X7K2")
>>> m.get("10")
'LOT7'
>>> m.as_raw(separator="^")
'010893456789012010LOT7^21X7K2'
>>> m.as_hri()[0]
'(01) 08934567890120'
>>> GS1Message.parse("010893456789012010LOT7\\x1d21X7K2") == m
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lineside.errors import GS1Error
from lineside.gs1.dictionary import AIDefinition, ai_matches, syntax_dictionary
from lineside.gs1.keys import gs1_check_digit
from lineside.gs1.linters import CSET82

__all__ = ["GS", "ElementString", "GS1Message", "SwallowedElements", "find_swallowed"]

#: The ASCII group separator that stands for FNC1 in transmitted data.
GS = "\x1d"
_SEPARATORS = frozenset((GS, "^"))
_TWO_DIGITS = re.compile(r"(?=[0-9]{2})")
#: Longest input accepted: above what any GS1 carrier holds (QR Code: 7,089 digits), so
#: hostile input is refused before any work proportional to its size.
MAX_DATA_LENGTH = 8192
_DATE_LINTERS = frozenset(("yymmdd", "yymmd0", "yyyymmdd", "yyyymmd0"))
# Keys whose optional serial component must be present when a digital signature (8030)
# is carried: a signature must be bound to one instance, not to a class of objects.
_SERIALISABLE_KEYS = ("253", "255", "8003")


def _definition(ai: str) -> AIDefinition | None:
    return syntax_dictionary().get(ai)


@dataclass(frozen=True, slots=True)
class ElementString:
    """One Application Identifier and its value.

    >>> ElementString("17", "261231").as_hri()
    '(17) 261231'
    """

    ai: str
    value: str

    @property
    def definition(self) -> AIDefinition | None:
        """The dictionary entry for the AI (``None`` for an unknown AI)."""
        return _definition(self.ai)

    @property
    def title(self) -> str:
        """The dictionary's data title, e.g. ``'BATCH/LOT'``."""
        definition = self.definition
        return definition.title if definition is not None else ""

    def as_bracketed(self) -> str:
        """``(AI)value``, with a literal ``(`` in the value escaped as ``\\(``."""
        escaped = self.value.replace("(", "\\(")
        return f"({self.ai}){escaped}"

    def as_hri(self) -> str:
        """The human readable interpretation line, ``(AI) value``."""
        return f"({self.ai}) {self.value}"

    def validate(self) -> None:
        """Check the value against the dictionary; :class:`GS1Error` names what is wrong.

        >>> ElementString("17", "260231").validate()
        Traceback (most recent call last):
        ...
        lineside.errors.GS1Error: AI (17): 260231 is not a valid date (not a valid day at \
position 5)
        """
        definition = _definition(self.ai)
        if definition is None:
            raise GS1Error(f"AI ({self.ai}) is not in the GS1 syntax dictionary")
        problem = definition.check_value(self.value)
        if problem is None:
            return
        reason, failure = problem
        if failure.code == "INCORRECT_CHECK_DIGIT":
            expected = gs1_check_digit(self.value[: failure.start])
            raise GS1Error(
                f"AI ({self.ai}): check digit {expected} expected, got {self.value[failure.start]}"
            )
        if failure.code in ("TOO_SHORT", "TOO_LONG"):
            raise GS1Error(f"AI ({self.ai}): {self.value!r} is {reason}")
        component_linters = {name for c in definition.components for name in c.linters}
        what = "a valid date" if component_linters & _DATE_LINTERS else "valid"
        if failure.code in ("ILLEGAL_MONTH", "ILLEGAL_DAY", "DATE_TOO_SHORT", "DATE_TOO_LONG"):
            what = "a valid date"
        raise GS1Error(
            f"AI ({self.ai}): {self.value} is not {what} ({reason} at position {failure.start + 1})"
        )


def _check_length(ai: str, value: str, definition: AIDefinition | None) -> None:
    if not value:
        raise GS1Error(f"AI ({ai}): value is empty")
    if definition is None:
        if len(value) > 90:
            raise GS1Error(f"AI ({ai}): value is {len(value)} characters, at most 90 allowed")
        return
    if len(value) > definition.max_length:
        raise GS1Error(
            f"AI ({ai}): value {value!r} is {len(value)} characters, "
            f"at most {definition.max_length} allowed"
        )
    if len(value) < definition.min_length:
        raise GS1Error(
            f"AI ({ai}): value {value!r} is {len(value)} characters, "
            f"at least {definition.min_length} needed"
        )


def _check_unknown(element: ElementString) -> None:
    """An AI absent from the dictionary: only its value's length and characters."""
    _check_length(element.ai, element.value, None)
    for index, char in enumerate(element.value):
        if char not in CSET82:
            raise GS1Error(
                f"AI ({element.ai}): character {char!r} at position {index + 1} is outside "
                "GS1 character set 82"
            )


def _join_alternatives(groups: tuple[tuple[str, ...], ...]) -> str:
    names = ["+".join(f"({ai})" for ai in group) for group in groups]
    if len(names) == 1:
        return f"AI {names[0]}"
    return f"AI {', '.join(names[:-1])} or {names[-1]}"


def _no_known_ai(text: str, position: int) -> GS1Error:
    snippet = text[position : position + 4]
    return GS1Error(f"element string: no known AI at position {position + 1} ({snippet!r})")


def _next_separator(text: str, start: int, length: int) -> int:
    """Index of the first GS or ``^`` at or after ``start`` (``length`` if none)."""
    gs = text.find(GS, start)
    caret = text.find("^", start)
    if gs == -1:
        return length if caret == -1 else caret
    return gs if caret == -1 else min(gs, caret)


@dataclass(frozen=True, slots=True)
class SwallowedElements:
    """A variable-length value that may hold element strings after a lost FNC1.

    ``offset`` is where, inside ``value``, the hidden element strings (``hidden``, which
    start with ``hidden_ai``) begin.

    >>> found = find_swallowed(GS1Message.parse("01" + "08934567890120" + "10LOT121SERIAL",
    ...                                         separators_trusted=True))
    >>> found.ai, found.offset, found.hidden_ai, found.hidden.get("21")
    ('10', 4, '21', 'SERIAL')
    """

    ai: str
    value: str
    offset: int
    hidden: GS1Message

    @property
    def hidden_ai(self) -> str:
        """The first AI found inside the value."""
        return self.hidden.elements[0].ai


def find_swallowed(message: GS1Message) -> SwallowedElements | None:
    """Whether the message's last value may have swallowed element strings because a
    reader dropped the FNC1 (GS) separator before them.

    The last value is split at the first point where both parts make sense: the head is
    a valid value for its AI, the tail parses as element strings whose values are all
    valid, and the rebuilt message neither repeats an AI with another value nor pairs
    mutually exclusive AIs. ``None`` when no such split exists or the last AI has a
    predefined length.

    >>> find_swallowed(GS1Message.parse("(01)08934567890120(10)LOTABC")) is None
    True
    """
    last = message.elements[-1]
    definition = syntax_dictionary().get(last.ai)
    if definition is None or not definition.fnc1_required:
        return None
    return _find_swallowed(message.elements[:-1], last.ai, last.value, definition)


def _find_swallowed(
    preceding: Sequence[ElementString], ai: str, value: str, definition: AIDefinition
) -> SwallowedElements | None:
    dictionary = syntax_dictionary()
    # The head must be a legal value, so the split lies between its shortest and longest
    # lengths; every AI starts with two digits, so only those places are tried.
    first, last = max(1, definition.min_length), definition.max_length + 2
    for match in _TWO_DIGITS.finditer(value, first, last):
        split = match.start()
        if dictionary.match_ai(value, split) is None or not definition.is_valid(value[:split]):
            continue
        try:
            hidden = GS1Message._parse_raw(value[split:], separators_trusted=True)
            for element in hidden.elements:
                element.validate()
            rebuilt = GS1Message((*preceding, ElementString(ai, value[:split]), *hidden.elements))
            rebuilt.check_repeats()
            rebuilt.check_exclusions()
        except GS1Error:
            continue
        return SwallowedElements(ai, value, split, hidden)
    return None


@dataclass(frozen=True, slots=True)
class GS1Message:
    """An ordered sequence of element strings, as carried by one GS1 barcode.

    >>> GS1Message.from_pairs([("01", "08934567890120"), ("17", "261231")]).as_bracketed()
    '(01)08934567890120(17)261231'
    """

    elements: tuple[ElementString, ...]

    # --- construction ----------------------------------------------------------------

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> GS1Message:
        """Build a message from ``(ai, value)`` pairs; AIs must be in the dictionary.

        Values are checked for length only; call :meth:`validate` for the full checks.
        """
        elements = []
        for ai, value in pairs:
            definition = _definition(ai)
            if definition is None:
                raise GS1Error(f"AI ({ai}) is not in the GS1 syntax dictionary")
            _check_length(ai, value, definition)
            elements.append(ElementString(ai, value))
        if not elements:
            raise GS1Error("a GS1 message needs at least one element string")
        return cls(tuple(elements))

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        separators_trusted: bool = False,
        permit_unknown_ais: bool = False,
    ) -> GS1Message:
        """Parse a bracketed ``(01)...(10)...`` or raw element string.

        Raw strings may start with ``^`` or GS (FNC1 in first position) and use GS
        (0x1D) or ``^`` as separators. When a raw string carries no separator at all, a
        variable-length value that would swallow a following element string is reported
        as a missing FNC1 instead of being trusted, unless ``separators_trusted`` says the
        reader is known to transmit every separator. ``permit_unknown_ais`` accepts
        AIs absent from the dictionary: 2-4 digits in the bracketed form; in the raw
        form, as long as the known AIs sharing its first two digits, with a value that
        runs to the next separator.

        >>> GS1Message.parse("^8299ABC", permit_unknown_ais=True).as_hri()
        ['(8299) ABC']

        >>> GS1Message.parse("^0108934567890120" + "10LOT12321ABC")
        Traceback (most recent call last):
        ...
        lineside.errors.GS1Error: AI (10): value 'LOT12321ABC' may contain AI (21) \
— FNC1 separator missing?
        """
        if not text:
            raise GS1Error("empty element string")
        if len(text) > MAX_DATA_LENGTH:
            raise GS1Error(
                f"element string is {len(text)} characters, at most {MAX_DATA_LENGTH} accepted"
            )
        if text[0] == "(":
            return cls._parse_bracketed(text, permit_unknown_ais)
        return cls._parse_raw(text, separators_trusted, permit_unknown_ais)

    @classmethod
    def _parse_bracketed(cls, text: str, permit_unknown_ais: bool) -> GS1Message:
        elements: list[ElementString] = []
        position = 0
        length = len(text)
        while position < length:
            if text[position] != "(":
                raise GS1Error(f"bracketed element string: '(' expected at position {position + 1}")
            close = text.find(")", position + 1)
            if close == -1:
                raise GS1Error(
                    f"bracketed element string: AI at position {position + 1} not closed"
                )
            ai = text[position + 1 : close]
            if not (ai.isascii() and ai.isdigit() and 2 <= len(ai) <= 4):
                raise GS1Error(
                    f"bracketed element string: AI {ai!r} at position {position + 1} "
                    "must be 2 to 4 digits"
                )
            definition = _definition(ai)
            if definition is None and not permit_unknown_ais:
                raise GS1Error(f"AI ({ai}) is not in the GS1 syntax dictionary")
            chars: list[str] = []
            position = close + 1
            while position < length:
                char = text[position]
                if char == "\\" and text.startswith("\\(", position):
                    chars.append("(")
                    position += 2
                    continue
                if char == "(":
                    break
                if char in _SEPARATORS:
                    raise GS1Error(
                        f"AI ({ai}): character {char!r} at position {position + 1} "
                        "is not allowed in a value"
                    )
                chars.append(char)
                position += 1
            value = "".join(chars)
            _check_length(ai, value, definition)
            elements.append(ElementString(ai, value))
        return cls(tuple(elements))

    @classmethod
    def _parse_raw(
        cls, text: str, separators_trusted: bool, permit_unknown_ais: bool = False
    ) -> GS1Message:
        dictionary = syntax_dictionary()
        lookup = dictionary.entries.get
        start = 1 if text[0] in _SEPARATORS else 0
        unseparated = GS not in text[start:] and "^" not in text[start:]
        elements: list[ElementString] = []
        position = start
        length = len(text)
        while position < length:
            if text[position] in _SEPARATORS:
                if position == start or text[position - 1] in _SEPARATORS:
                    raise GS1Error(f"element string: empty field at position {position + 1}")
                position += 1
                continue
            # AIs are prefix-free: at most one of the 2-, 3- and 4-digit candidates is known.
            ai = text[position : position + 2]
            definition = lookup(ai)
            if definition is None:
                ai = text[position : position + 3]
                definition = lookup(ai) if len(ai) == 3 else None
                if definition is None:
                    ai = text[position : position + 4]
                    definition = lookup(ai) if len(ai) == 4 else None
                    if definition is None:
                        if not permit_unknown_ais:
                            raise _no_known_ai(text, position)
                        position = cls._read_unknown(text, position, elements)
                        continue
            position += len(ai)
            if not definition.fnc1_required:
                end = position + definition.max_length
                value = text[position:end]
                if len(value) < definition.max_length or (
                    not unseparated and (GS in value or "^" in value)
                ):
                    raise GS1Error(
                        f"AI ({ai}): {definition.max_length} characters expected at position "
                        f"{position + 1}, got {value.split(GS)[0].split('^')[0]!r}"
                    )
            elif unseparated:
                end = length
                value = text[position:]
                if not separators_trusted:
                    # Bounded: a following element string would start within the
                    # longest legal value, and its own value is at most 90 characters.
                    found = _find_swallowed(
                        elements, ai, value[: definition.max_length + 94], definition
                    )
                    if found is not None:
                        raise GS1Error(
                            f"AI ({ai}): value {found.value!r} may contain AI ({found.hidden_ai}) "
                            "— FNC1 separator missing?"
                        )
            else:
                end = _next_separator(text, position, length)
                value = text[position:end]
            if not definition.min_length <= len(value) <= definition.max_length:
                _check_length(ai, value, definition)
            elements.append(ElementString(ai, value))
            position = end
        if not elements:
            raise GS1Error("element string holds no AI")
        return cls(tuple(elements))

    @staticmethod
    def _read_unknown(text: str, position: int, elements: list[ElementString]) -> int:
        """Read an AI absent from the dictionary at ``position``; return where the next
        field starts. Its length comes from the known AIs that share its first two
        digits, and its value runs to the next separator."""
        size = syntax_dictionary().unknown_ai_length(text, position)
        ai = text[position : position + (size or 0)]
        if size is None or len(ai) != size or not (ai.isascii() and ai.isdigit()):
            raise _no_known_ai(text, position)
        start = position + size
        end = _next_separator(text, start, len(text))
        value = text[start:end]
        _check_length(ai, value, None)
        elements.append(ElementString(ai, value))
        return end

    # --- access ------------------------------------------------------------------------

    def get(self, ai: str) -> str | None:
        """The value of the first element with this AI, or ``None``."""
        for element in self.elements:
            if element.ai == ai:
                return element.value
        return None

    def ais(self) -> tuple[str, ...]:
        """The AIs in message order."""
        return tuple(element.ai for element in self.elements)

    # --- rendering ---------------------------------------------------------------------

    def as_bracketed(self) -> str:
        """The bracketed form, ``(01)...(10)...``."""
        return "".join(element.as_bracketed() for element in self.elements)

    def as_raw(self, separator: str = GS) -> str:
        """The raw form without the leading FNC1; ``separator`` only after a field that
        needs one (not predefined-length) and is not last.

        >>> GS1Message.parse("(10)A(01)08934567890120").as_raw(separator="^")
        '10A^0108934567890120'
        """
        parts: list[str] = []
        last = len(self.elements) - 1
        for index, element in enumerate(self.elements):
            parts.append(element.ai + element.value)
            definition = element.definition
            needs_separator = definition is None or definition.fnc1_required
            if needs_separator and index != last:
                parts.append(separator)
        return "".join(parts)

    def as_hri(self) -> list[str]:
        """Human readable interpretation lines, ``["(01) 0893...", "(10) LOT7"]``."""
        return [element.as_hri() for element in self.elements]

    def __str__(self) -> str:
        return self.as_bracketed()

    # --- validation --------------------------------------------------------------------

    def validate(self, *, permit_unknown_ais: bool = False) -> None:
        """Apply every dictionary rule; the first violation raises :class:`GS1Error`.

        Checks each value (components and linters), repeated AIs with different values,
        mutually exclusive AIs (``ex=``), mandatory associations (``req=``) and that a
        digital signature (8030) goes with a serialised key. With
        ``permit_unknown_ais`` an AI absent from the dictionary is accepted with any
        value of GS1 character set 82 (at most 90 characters).

        >>> GS1Message.parse("(21)ABC").validate()
        Traceback (most recent call last):
        ...
        lineside.errors.GS1Error: AI (21) requires AI (01), (03) or (8006)
        """
        lookup = syntax_dictionary().entries.get
        for element in self.elements:
            definition = lookup(element.ai)
            if definition is None and permit_unknown_ais:
                _check_unknown(element)
            elif definition is None or not definition.is_valid(element.value):
                element.validate()
        self.check_repeats()
        self._check_associations()
        self.check_digital_signature()

    def _check_associations(self) -> None:
        """Exclusions then requisites; the reference loops run only to word the error."""
        if not syntax_dictionary().associations_hold(self.ais()):
            self.check_exclusions()
            self.check_requisites()

    def check_repeats(self) -> None:
        """An AI may repeat only with the same value."""
        if len({element.ai for element in self.elements}) == len(self.elements):
            return
        seen: dict[str, str] = {}
        for element in self.elements:
            previous = seen.setdefault(element.ai, element.value)
            if previous != element.value:
                raise GS1Error(
                    f"AI ({element.ai}) appears twice with different values: "
                    f"{previous!r} and {element.value!r}"
                )

    def check_exclusions(self) -> None:
        """No AI may appear with one that its ``ex=`` attribute excludes."""
        ais = self.ais()
        for element in self.elements:
            definition = element.definition
            if definition is None:
                continue
            for pattern in definition.excludes:
                for other in ais:
                    if other != element.ai and ai_matches(pattern, other):
                        raise GS1Error(f"AI ({element.ai}) cannot be used with AI ({other})")

    def check_requisites(self) -> None:
        """Every ``req=`` attribute is satisfied by one of its alternatives."""
        ais = self.ais()
        for element in self.elements:
            definition = element.definition
            if definition is None:
                continue
            for alternatives in definition.requires:
                if not any(
                    all(any(ai_matches(pattern, ai) for ai in ais) for pattern in group)
                    for group in alternatives
                ):
                    raise GS1Error(f"AI ({element.ai}) requires {_join_alternatives(alternatives)}")

    def check_digital_signature(self) -> None:
        """A digital signature (8030) needs the serial component of 253, 255 or 8003."""
        if self.get("8030") is None:
            return
        for key in _SERIALISABLE_KEYS:
            value = self.get(key)
            if value is None:
                continue
            definition = syntax_dictionary()[key]
            fixed = sum(c.max_length for c in definition.components if not c.optional)
            if len(value) <= fixed:
                raise GS1Error(
                    f"AI (8030) needs a serialised key: AI ({key}) {value} has no serial component"
                )
