"""USB-HID keyboard-wedge scanners, read through Linux evdev.

A wedge scanner types its data as key presses. Two things go wrong in the field: the
host's keyboard layout re-interprets the key codes (a US-configured reader on a French
AZERTY host types ``W`` for ``Z`` and ``à`` for ``0``), and the GS separator has no key,
so readers either drop it or substitute something (Ctrl+], or a configured character).

:class:`KeycodeDecoder` is the sans-I/O core: feed it ``(keycode, value)`` pairs
(Linux input key codes; value 1 press, 0 release, 2 autorepeat) and it returns frames.
:class:`HidScanner` feeds it from ``/dev/input/eventN`` with the device grabbed, so the
scans do not also land in whatever window has the focus.

>>> dec = KeycodeDecoder(US)
>>> frames = [f for code, value in encode_keys("A1\\x1d2", US) for f in dec.feed(code, value)]
>>> frames
[Frame(data=b'A1\\x1d2', error=None)]
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from edge.scanners.base import SCANNER_BACKOFF, Scanner
from edge.scanners.read import ReadStamper, ScanEvent, ScannerState
from lineside.backoff import Backoff
from lineside.codecs.framing import Frame
from lineside.errors import DeviceError, TransportError

logger = logging.getLogger(__name__)

# Linux input key codes (linux/input-event-codes.h); stable kernel ABI.
KEY_MINUS, KEY_EQUAL = 12, 13
KEY_LEFTBRACE, KEY_RIGHTBRACE, KEY_ENTER, KEY_LEFTCTRL = 26, 27, 28, 29
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_LEFTALT, KEY_SPACE, KEY_CAPSLOCK = 42, 54, 56, 57, 58
KEY_102ND, KEY_KPENTER, KEY_RIGHTCTRL, KEY_RIGHTALT = 86, 96, 97, 100
_KEYPAD_DIGITS = {82: 0, 79: 1, 80: 2, 81: 3, 75: 4, 76: 5, 77: 6, 71: 7, 72: 8, 73: 9}
_KEYPAD_OTHER = {55: "*", 74: "-", 78: "+", 83: ".", 98: "/"}
_SHIFTS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
_CTRLS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL})
_ENTERS = frozenset({KEY_ENTER, KEY_KPENTER})
GS = "\x1d"


def _row(first_code: int, plain: str, shifted: str) -> dict[int, tuple[str, str]]:
    return {first_code + i: (p, s) for i, (p, s) in enumerate(zip(plain, shifted, strict=True))}


@dataclass(frozen=True, slots=True)
class KeyboardLayout:
    """What each key types on the host: plain, with Shift, and with AltGr."""

    name: str
    keys: Mapping[int, tuple[str, str]]
    altgr: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))

    def char(self, code: int, *, shift: bool, altgr: bool) -> str | None:
        """The character ``code`` types, or ``None`` when the key types nothing known."""
        if altgr:
            return self.altgr.get(code)
        pair = self.keys.get(code)
        if pair is None:
            return None
        return pair[1] if shift else pair[0]


def _layout(
    name: str, rows: list[dict[int, tuple[str, str]]], altgr: dict[int, str]
) -> KeyboardLayout:
    keys: dict[int, tuple[str, str]] = {KEY_SPACE: (" ", " ")}
    for row in rows:
        keys.update(row)
    for code, digit in _KEYPAD_DIGITS.items():
        keys[code] = (str(digit), str(digit))
    for code, char in _KEYPAD_OTHER.items():
        keys[code] = (char, char)
    return KeyboardLayout(name, MappingProxyType(keys), MappingProxyType(altgr))


#: US English (QWERTY): what almost every reader emits by default.
US = _layout(
    "us",
    [
        _row(2, "1234567890-=", "!@#$%^&*()_+"),
        _row(16, "qwertyuiop[]", "QWERTYUIOP{}"),
        _row(30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
        _row(43, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
    ],
    {},
)

#: French AZERTY: digits need Shift, A/Q, Z/W and M move; the classic mangling example.
#: Dead keys (^ and ¨) are taken literally: a scanner never composes accents.
FR = _layout(
    "fr",
    [
        _row(2, "&é\"'(-è_çà)=", "1234567890°+"),
        _row(16, "azertyuiop^$", "AZERTYUIOP¨£"),
        _row(30, "qsdfghjklmù²", "QSDFGHJKLM%³"),
        _row(43, "*wxcvbn,;:!", "µWXCVBN?./§"),
        {KEY_102ND: ("<", ">")},
    ],
    {
        3: "~",
        4: "#",
        5: "{",
        6: "[",
        7: "|",
        8: "`",
        9: "\\",
        10: "^",
        11: "@",
        12: "]",
        13: "}",
        18: "€",
    },
)

LAYOUTS: Mapping[str, KeyboardLayout] = MappingProxyType({"us": US, "fr": FR})


class GsMode(StrEnum):
    """How the reader is configured to send the GS (FNC1) separator."""

    #: Ctrl+] (ASCII 29 is "control right bracket"), the usual wedge setting.
    CTRL_BRACKET = "ctrl-bracket"
    #: Alt held while typing 0029 on the keypad (the Windows habit).
    ALT_NUMPAD = "alt-numpad"
    #: A printable character that never occurs in GS1 data, e.g. ``~``.
    SUBSTITUTE = "substitute"


class KeycodeDecoder:
    """Sans-I/O: turn key events into frames, one per Enter.

    Ctrl+] and Alt+keypad codes are always understood; ``gs_substitute`` (a character
    outside GS1 character set 82, e.g. ``"~"``) is additionally turned back into GS.
    Unknown keys become U+FFFD so the read fails visibly instead of losing a character.

    >>> dec = KeycodeDecoder(FR)
    >>> [f.data for code, value in encode_keys("Z0", US) for f in dec.feed(code, value)]
    [b'W\\xc3\\xa0']
    """

    def __init__(
        self,
        layout: KeyboardLayout = US,
        *,
        gs_substitute: str | None = None,
        max_length: int = 4096,
    ) -> None:
        if gs_substitute is not None and len(gs_substitute) != 1:
            raise ValueError(f"gs_substitute must be one character, got {gs_substitute!r}")
        self.layout = layout
        self.gs_substitute = gs_substitute
        self.max_length = max_length
        self._chars: list[str] = []
        self._shift: set[int] = set()
        self._ctrl: set[int] = set()
        self._alt = False
        self._altgr = False
        self._caps = False
        # Alt+keypad code so far, saturated above the last code point (bounded input).
        self._alt_code: int | None = None
        self._overlong = False

    def feed(self, code: int, value: int) -> list[Frame]:
        """Process one key event; return the frame it completes, if any."""
        if code in _SHIFTS:
            (self._shift.add if value else self._shift.discard)(code)
            return []
        if code in _CTRLS:
            (self._ctrl.add if value else self._ctrl.discard)(code)
            return []
        if code == KEY_RIGHTALT:
            self._altgr = bool(value)
            return []
        if code == KEY_LEFTALT:
            self._alt = bool(value)
            if not value and self._alt_code is not None:
                number, self._alt_code = self._alt_code, None
                # Surrogates are not characters: they could not be encoded as UTF-8.
                valid = 0 < number < 0x110000 and not 0xD800 <= number <= 0xDFFF
                self._append(chr(number) if valid else "\ufffd")
            return []
        if value != 1:
            return []
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return []
        if code in _ENTERS:
            return self._finish()
        if self._alt and code in _KEYPAD_DIGITS:
            digit = _KEYPAD_DIGITS[code]
            self._alt_code = min((self._alt_code or 0) * 10 + digit, 0x110000)
            return []
        if self._ctrl:
            # Readers emit the US key code for "]" whatever the host layout is.
            if code == KEY_RIGHTBRACE:
                self._append(GS)
            return []
        char = self.layout.char(code, shift=bool(self._shift), altgr=self._altgr)
        if char is None:
            self._append("\ufffd")
            return []
        if self._caps and char.isalpha():
            char = char.swapcase()
        if char == self.gs_substitute:
            char = GS
        self._append(char)
        return []

    def _append(self, char: str) -> None:
        if self._overlong:
            return
        if len(self._chars) >= self.max_length:
            self._overlong = True
            return
        self._chars.append(char)

    def _finish(self) -> list[Frame]:
        data = "".join(self._chars).encode("utf-8")
        overlong, self._overlong = self._overlong, False
        self._chars.clear()
        if overlong:
            return [
                Frame(
                    data[:32],
                    f"overlong read: more than {self.max_length} characters before Enter",
                )
            ]
        return [Frame(data)] if data else []


def encode_keys(
    text: str,
    layout: KeyboardLayout = US,
    *,
    gs_mode: GsMode = GsMode.CTRL_BRACKET,
    gs_substitute: str = "~",
    enter: bool = True,
) -> list[tuple[int, int]]:
    """The key events a reader configured for ``layout`` sends to type ``text``.

    Used by simulators and tests; raises ``ValueError`` for a character the layout
    cannot type.

    >>> encode_keys("a", US)
    [(30, 1), (30, 0), (28, 1), (28, 0)]
    """
    reverse: dict[str, tuple[int, str]] = {}
    for code, char in layout.altgr.items():
        reverse.setdefault(char, (code, "altgr"))
    for code, (plain, shifted) in sorted(layout.keys.items()):
        reverse.setdefault(shifted, (code, "shift"))
        reverse[plain] = (code, "") if plain not in reverse or code < 71 else reverse[plain]
    events: list[tuple[int, int]] = []
    for char in text:
        if char == GS:
            if gs_mode is GsMode.CTRL_BRACKET:
                events += [(KEY_LEFTCTRL, 1), (KEY_RIGHTBRACE, 1), (KEY_RIGHTBRACE, 0)]
                events.append((KEY_LEFTCTRL, 0))
                continue
            if gs_mode is GsMode.ALT_NUMPAD:
                digits = {v: k for k, v in _KEYPAD_DIGITS.items()}
                events.append((KEY_LEFTALT, 1))
                for d in "0029":
                    events += [(digits[int(d)], 1), (digits[int(d)], 0)]
                events.append((KEY_LEFTALT, 0))
                continue
            char = gs_substitute
        if char not in reverse:
            raise ValueError(f"layout {layout.name!r} cannot type {char!r}")
        code, modifier = reverse[char]
        mod_key = {"shift": KEY_LEFTSHIFT, "altgr": KEY_RIGHTALT}.get(modifier)
        if mod_key is not None:
            events.append((mod_key, 1))
        events += [(code, 1), (code, 0)]
        if mod_key is not None:
            events.append((mod_key, 0))
    if enter:
        events += [(KEY_ENTER, 1), (KEY_ENTER, 0)]
    return events


#: Opens a key-event source: yields ``(keycode, value)``; raises ``TransportError`` when
#: the device disappears and ``DeviceError`` when it can never be opened.
KeyEventSource = Callable[[], AsyncIterator[tuple[int, int]]]


def evdev_source(path: str, *, grab: bool = True) -> KeyEventSource:
    """A :data:`KeyEventSource` reading ``path`` (``/dev/input/eventN``) through evdev."""

    async def events() -> AsyncGenerator[tuple[int, int], None]:
        try:
            import evdev
        except ImportError as exc:
            raise DeviceError(
                "USB-HID scanners need the 'evdev' package (pip install 'lineside[hid]', "
                "Linux only)"
            ) from exc
        try:
            device = evdev.InputDevice(path)
        except PermissionError as exc:
            raise DeviceError(
                f"permission denied opening {path}: add the agent's user to the 'input' "
                "group or install a udev rule for the scanner"
            ) from exc
        except OSError as exc:
            raise TransportError(f"cannot open {path}: {exc.strerror or exc}") from exc
        try:
            if grab:
                try:
                    device.grab()
                except OSError as exc:
                    raise DeviceError(
                        f"cannot grab {path}: {exc.strerror or exc} (another program holds it)"
                    ) from exc
            try:
                async for event in device.async_read_loop():
                    if event.type == evdev.ecodes.EV_KEY:
                        yield int(event.code), int(event.value)
            except OSError as exc:
                raise TransportError(f"{path}: {exc.strerror or exc}") from exc
        finally:
            device.close()

    return events


class HidScanner(Scanner):
    """A keyboard-wedge reader on ``/dev/input/eventN``.

    ``source`` defaults to :func:`evdev_source`; tests pass a fake event stream.
    """

    def __init__(
        self,
        device_id: str,
        url: str,
        source: KeyEventSource,
        *,
        decoder_factory: Callable[[], KeycodeDecoder] = KeycodeDecoder,
        stamper: ReadStamper | None = None,
        backoff: Backoff = SCANNER_BACKOFF,
    ) -> None:
        self.device_id = device_id
        self.url = url
        self._source = source
        self._decoder_factory = decoder_factory
        self._stamper = stamper or ReadStamper(device_id)
        self._backoff = backoff

    async def events(self) -> AsyncGenerator[ScanEvent, None]:
        stamper = self._stamper
        delays = self._backoff.delays()
        yield stamper.status(ScannerState.CONNECTING, self.url)
        while True:
            decoder = self._decoder_factory()
            stream = self._source()
            connected = False
            detail = "device closed"
            try:
                async for code, value in stream:
                    if not connected:
                        connected = True
                        yield stamper.status(ScannerState.CONNECTED, self.url)
                    for frame in decoder.feed(code, value):
                        delays = self._backoff.delays()
                        yield stamper.frame(frame)
            except TransportError as exc:
                detail = str(exc)
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
            delay = next(delays, self._backoff.maximum)
            logger.warning("%s: %s; retry in %.1f s", self.device_id, detail, delay)
            yield stamper.status(ScannerState.DISCONNECTED, detail, delay)
            await asyncio.sleep(delay)
