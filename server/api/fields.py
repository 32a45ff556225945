"""Field types shared by the routers' request bodies: GS1 keys in their stored form,
line and device identifiers, paging.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(GtinField).validate_python("8934567890120")
'08934567890120'
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, Field

from lineside.contract import IDENTIFIER
from lineside.errors import GS1Error
from lineside.gs1.keys import Gln, Gtin


def _gtin14(value: str) -> str:
    try:
        return Gtin.parse(value).value
    except GS1Error as exc:
        raise ValueError(str(exc)) from exc


def _gln(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return Gln.parse(value).value
    except GS1Error as exc:
        raise ValueError(str(exc)) from exc


#: A GTIN-8/12/13/14, stored as 14 digits with a checked check digit.
GtinField = Annotated[str, Field(min_length=8, max_length=14), AfterValidator(_gtin14)]
#: A GLN with a checked check digit; empty means none.
GlnField = Annotated[str | None, Field(default=None, max_length=13), AfterValidator(_gln)]
#: A line, site or device identifier (an MQTT topic level).
LineIdField = Annotated[str, Field(pattern=IDENTIFIER.pattern)]
#: The largest number of rows a list returns.
Page = Annotated[int, Query(ge=1, le=1000, description="Largest number of rows returned.")]
#: Rows skipped before the page.
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
