"""What a line configuration must not carry into production, beyond what loading refuses.

:func:`load_config` already refuses inline broker and server secrets. A configuration may
still load and be unfit for a real line: an operator PIN hash of the demo PIN (printed in
every guide) or of a PIN anyone would try first, or a password written into a URL. ``lineside
edge check-config`` reports these unless it is told the file is a demo (``--demo``).

>>> from edge.config import hash_pin
>>> weak_pin(hash_pin("2468", salt=bytes(16)))
'2468'
>>> weak_pin(hash_pin("730519", salt=bytes(16))) is None
True
>>> url_secret("mqtts://factory-1.L1:secret@broker.example.vn:8883")
'a password in the URL'
>>> url_secret("tcp://192.168.10.21:9100") is None
True
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from edge.config import LineConfig, verify_pin

#: The demo PIN of the guides and the demo, then PINs anyone tries first.
DEMO_PINS = ("2468",)
GUESSED_PINS = ("1234", "0000", "1111", "123456", "000000")
#: Query parameters that carry a secret in a device URL.
SECRET_PARAMETERS = frozenset({"password", "passwd", "pass", "pwd", "secret", "token", "key"})


def weak_pin(pin_hash: str) -> str | None:
    """The demo or guessable PIN this hash is of, or ``None``."""
    return next((pin for pin in DEMO_PINS + GUESSED_PINS if verify_pin(pin, pin_hash)), None)


def url_secret(url: str) -> str | None:
    """What secret ``url`` carries inline (said without the secret), or ``None``."""
    parts = urlsplit(url)
    if parts.password:
        return "a password in the URL"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in SECRET_PARAMETERS and value:
            return f"a secret in the URL's {name!r} parameter"
    return None


def production_problems(config: LineConfig, source: str) -> list[str]:
    """One line per problem, each naming the file and key, like :func:`load_config`."""
    problems: list[str] = []
    for index, operator in enumerate(config.operators):
        pin = weak_pin(operator.pin_hash)
        if pin is not None:
            what = "the demo PIN" if pin in DEMO_PINS else "a PIN anyone would try"
            problems.append(
                f"{source}: operators[{index}].pin_hash: is the hash of {what} ({pin}); "
                "make one with 'lineside edge hash-pin'"
            )
    urls = [("broker.url", config.broker.url)]
    if config.server is not None:
        urls.append(("server.url", config.server.url))
    urls += [(f"devices[{i}].url", device.url) for i, device in enumerate(config.devices)]
    reject_url = getattr(config.reject, "url", None)
    if isinstance(reject_url, str):
        urls.append(("reject.url", reject_url))
    for key, url in urls:
        secret = url_secret(url)
        if secret is not None:
            problems.append(
                f"{source}: {key}: {secret}; put it in a file and name the file "
                '(e.g. password = { file = "/etc/lineside/credentials/..." })'
            )
    return problems
