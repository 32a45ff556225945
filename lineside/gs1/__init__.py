"""GS1 foundation: keys and check digits, the Barcode Syntax Dictionary, element
strings, GS1 Digital Link, random serials and barcode-reader scan data.

>>> from lineside.gs1 import GS1Message, Gtin
>>> GS1Message.parse("(01)08934567890120(10)LOT7").get("10")
'LOT7'
>>> Gtin.parse("8934567890120").value
'08934567890120'
"""

from __future__ import annotations

from lineside.gs1.compression import compress_digital_link, decompress_digital_link
from lineside.gs1.dictionary import AIDefinition, Component, SyntaxDictionary, syntax_dictionary
from lineside.gs1.digital_link import (
    GS1_RESOLVER_ROOT,
    DigitalLinkParts,
    key_and_qualifiers,
    parse_digital_link,
    split_digital_link,
    to_digital_link,
)
from lineside.gs1.keys import Gln, Gtin, Sscc, gs1_check_digit
from lineside.gs1.message import GS, ElementString, GS1Message, SwallowedElements, find_swallowed
from lineside.gs1.scan import SUSPECT_MISSING_GS, ScanResult, parse_scan
from lineside.gs1.serials import DEFAULT_ALPHABET, SerialGenerator

__all__ = [
    "DEFAULT_ALPHABET",
    "GS",
    "GS1_RESOLVER_ROOT",
    "SUSPECT_MISSING_GS",
    "AIDefinition",
    "Component",
    "DigitalLinkParts",
    "ElementString",
    "GS1Message",
    "Gln",
    "Gtin",
    "ScanResult",
    "SerialGenerator",
    "Sscc",
    "SwallowedElements",
    "SyntaxDictionary",
    "compress_digital_link",
    "decompress_digital_link",
    "find_swallowed",
    "gs1_check_digit",
    "key_and_qualifiers",
    "parse_digital_link",
    "parse_scan",
    "split_digital_link",
    "syntax_dictionary",
    "to_digital_link",
]
