"""Scanner self-test: read a known calibration code and explain what did not survive.

Readers silently drop the GS (FNC1) separator, omit the AIM symbology identifier, or
type through a keyboard layout that mangles characters. Reading one known code tells a
technician exactly which, before the line starts.

:data:`CALIBRATION_MESSAGE` is the code to print (the test label imports it): a GTIN,
a variable-length lot followed by a serial (so a missing GS is visible), and characters
of GS1 set 82 that move between QWERTY, AZERTY and QWERTZ keyboards or need Shift.

>>> check_calibration(b"]d2" + CALIBRATION_ELEMENT_STRING.encode()).passed
True
>>> report = check_calibration(b"]d2" + CALIBRATION_ELEMENT_STRING.replace(GS, "").encode())
>>> report.problems[0]
'GS separator missing: the reader is in keyboard-wedge mode without GS substitution'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from edge.scanners.hid import FR, US, KeyboardLayout, KeycodeDecoder, encode_keys
from lineside.codecs.framing import split_aim_prefix

GS = "\x1d"

#: The calibration code in human-readable form (GS1 character set 82 only).
CALIBRATION_MESSAGE = "(01)08934567890120(10)AZqw-M.1/y(21)SELF_TEST"
#: The same as transmitted: FNC1 element string with GS after the variable-length lot.
CALIBRATION_ELEMENT_STRING = "010893456789012010AZqw-M.1/y" + GS + "21SELF_TEST"
#: Print it as GS1 DataMatrix: a reader must report ``]d2``.
CALIBRATION_SYMBOLOGY = "]d2"

_LAYOUT_PAIRS: tuple[tuple[KeyboardLayout, KeyboardLayout], ...] = ((US, FR), (FR, US))


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing checked; ``message`` is the diagnosis when ``ok`` is false."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class SelfTestReport:
    """The verdict on one read of the calibration code."""

    received: str
    expected: str
    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        """Whether everything survived: symbology identifier, GS and every character."""
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[str]:
        """The diagnoses of what failed, most important first."""
        return [f.message for f in self.findings if not f.ok]


def _mangle(text: str, reader: KeyboardLayout, host: KeyboardLayout) -> str | None:
    """What ``text`` becomes when typed for ``reader`` and decoded as ``host``."""
    try:
        events = encode_keys(text, reader)
    except ValueError:
        return None
    decoder = KeycodeDecoder(host)
    frames = [f for code, value in events for f in decoder.feed(code, value)]
    return frames[0].data.decode("utf-8") if frames else ""


def _layout_mismatch(expected: str, received: str) -> tuple[KeyboardLayout, KeyboardLayout] | None:
    for reader, host in _LAYOUT_PAIRS:
        for candidate in (expected, expected.replace(GS, "")):
            if _mangle(candidate, reader, host) == received:
                return reader, host
    return None


def check_calibration(
    raw: bytes | str,
    *,
    expected: str = CALIBRATION_ELEMENT_STRING,
    symbology: str = CALIBRATION_SYMBOLOGY,
    wedge: bool = True,
) -> SelfTestReport:
    """Compare one read with the calibration code; sans-I/O.

    ``wedge`` says whether the reader is a keyboard wedge (HID), which changes the
    advice for a missing GS.

    >>> bad = check_calibration("]d2010893456789012010AZqw-M.1/y~21SELF_TEST", wedge=False)
    >>> bad.problems
    ["GS separator arrived as '~': set the driver's GS substitution character to '~'"]
    """
    findings: list[Finding] = []
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", errors="replace")
            findings.append(
                Finding(
                    False,
                    f"invalid UTF-8 at byte {exc.start}: the reader's character "
                    "encoding is not UTF-8/ASCII",
                )
            )
    else:
        text = raw
    full_expected = symbology + expected

    mismatch = _layout_mismatch(full_expected, text)
    if mismatch is not None:
        reader, host = mismatch
        findings.append(
            Finding(
                False,
                f"keyboard layout mismatch: the reader types for a {reader.name!r} "
                f"keyboard but the host decodes {host.name!r}; set both to the same layout",
            )
        )
        aligned = full_expected
        if GS in full_expected and GS not in text:
            findings.extend(_check_gs(expected, "", wedge))
            aligned = full_expected.replace(GS, "")
        seen: set[tuple[str, str]] = set()
        for exp, got in zip(aligned, text, strict=False):
            if exp != got and (exp, got) not in seen:
                seen.add((exp, got))
                findings.append(
                    Finding(
                        False, f"character {exp!r} arrived as {got!r}: keyboard layout mismatch"
                    )
                )
        return SelfTestReport(received=text, expected=full_expected, findings=tuple(findings))

    # surrogatepass: a lone surrogate in str input must be reported, not crash the test.
    found_symbology, payload_bytes = split_aim_prefix(text.encode("utf-8", "surrogatepass"))
    payload = payload_bytes.decode("utf-8", errors="replace")
    if found_symbology is None:
        findings.append(
            Finding(
                False,
                f"symbology identifier missing: enable AIM identifier transmission "
                f"on the reader (expected {symbology})",
            )
        )
    elif found_symbology != symbology:
        hint = (
            ": the reader does not recognise FNC1 (GS1 mode off)"
            if found_symbology[:2] == symbology[:2]
            else ""
        )
        findings.append(
            Finding(
                False,
                f"symbology identifier {found_symbology} received, expected {symbology}{hint}",
            )
        )
    else:
        findings.append(Finding(True, f"symbology identifier {symbology} present"))

    gs_count = expected.count(GS)
    if gs_count:
        findings.extend(_check_gs(expected, payload, wedge))
        if GS not in payload:
            # Compare characters with the GS taken out of both sides.
            expected_chars = expected.replace(GS, "")
            received_chars = _without_substitute(expected, payload)
        else:
            expected_chars, received_chars = expected, payload
    else:
        expected_chars, received_chars = expected, payload
    findings.extend(_check_characters(expected_chars, received_chars))
    return SelfTestReport(received=text, expected=full_expected, findings=tuple(findings))


def _substitute_at_gs(expected: str, payload: str) -> str | None:
    """The single character standing where the GS should be, if that is the only change."""
    at = expected.index(GS)
    if len(payload) == len(expected) and payload[:at] + GS + payload[at + 1 :] == expected:
        return payload[at]
    return None


def _without_substitute(expected: str, payload: str) -> str:
    sub = _substitute_at_gs(expected, payload)
    if sub is None:
        return payload
    at = expected.index(GS)
    return payload[:at] + payload[at + 1 :]


def _check_gs(expected: str, payload: str, wedge: bool) -> list[Finding]:
    if payload.count(GS) == expected.count(GS):
        return [Finding(True, "GS separator present")]
    if GS in payload:
        return [
            Finding(
                False,
                f"GS separator count {payload.count(GS)} received, expected {expected.count(GS)}",
            )
        ]
    sub = _substitute_at_gs(expected, payload)
    if sub is not None:
        return [
            Finding(
                False,
                f"GS separator arrived as {sub!r}: set the driver's GS substitution "
                f"character to {sub!r}",
            )
        ]
    if wedge:
        return [
            Finding(
                False,
                "GS separator missing: the reader is in keyboard-wedge mode without "
                "GS substitution",
            )
        ]
    return [
        Finding(
            False,
            "GS separator missing: the reader does not transmit FNC1 as GS (0x1D); "
            "enable it in the reader's GS1 settings",
        )
    ]


def _cause(exp: str, got: str) -> str:
    for reader, host in _LAYOUT_PAIRS:
        if _mangle(exp, reader, host) == got:
            return "keyboard layout mismatch"
    if exp.swapcase() == got and exp != got:
        return "letter case inverted (Caps Lock on, or the reader converts case)"
    return "misread or transmission error"


def _check_characters(
    expected: str,
    received: str,
) -> list[Finding]:
    if expected == received:
        return [Finding(True, f"all {len(expected)} characters arrived intact")]
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    matcher = difflib.SequenceMatcher(a=expected, b=received, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and a1 - a0 == b1 - b0:
            for exp, got in zip(expected[a0:a1], received[b0:b1], strict=True):
                if (exp, got) in seen:
                    continue
                seen.add((exp, got))
                findings.append(
                    Finding(False, f"character {exp!r} arrived as {got!r}: {_cause(exp, got)}")
                )
        elif op == "delete":
            findings.append(
                Finding(False, f"characters {expected[a0:a1]!r} missing at position {a0}")
            )
        elif op == "insert":
            findings.append(
                Finding(False, f"unexpected characters {received[b0:b1]!r} at position {a0}")
            )
        else:
            findings.append(
                Finding(
                    False,
                    f"characters {expected[a0:a1]!r} arrived as "
                    f"{received[b0:b1]!r} at position {a0}",
                )
            )
    return findings
