r"""What goes on one label: the typed unit data and the named fields templates use.

>>> from datetime import date
>>> d = LabelData(product_name="Miến dong", gtin="08934567890120", lot="L1",
...               serial="X7K2", expiry=date(2027, 6, 30))
>>> f = d.fields()
>>> f["element_string"]
'01089345678901201727063010L1\x1d21X7K2'
>>> f["hri"]
'(01)08934567890120(17)270630(10)L1(21)X7K2'
>>> f["digital_link"]
'https://id.gs1.org/01/08934567890120/10/L1/21/X7K2?17=270630'
>>> f["expiry"], f["hri_text"]
('30/06/2027', '(01)\xa008934567890120 (17)\xa0270630 (10)\xa0L1 (21)\xa0X7K2')
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lineside.errors import GS1Error
from lineside.gs1 import GS, ElementString, GS1Message, Gtin, to_digital_link
from lineside.gs1.digital_link import GS1_RESOLVER_ROOT

#: The order :meth:`LabelData.fields` lists the fields in.
_ORDER = (
    "product_name",
    "gtin",
    "lot",
    "serial",
    "expiry",
    "production_date",
    "best_before",
    "producer",
    "origin",
    "digital_link",
    "element_string",
    "hri",
    "hri_lines",
    "hri_text",
)
#: Every field name a template may use. ``extra`` values are reached as ``extra.<key>``.
STANDARD_FIELDS: frozenset[str] = frozenset(_ORDER)

#: Fields always present, whatever the unit: a template may use them unconditionally.
ALWAYS_PRESENT: frozenset[str] = frozenset(
    {"product_name", "gtin", "digital_link", "element_string", "hri", "hri_lines", "hri_text"}
)


def _yymmdd(value: date) -> str:
    return value.strftime("%y%m%d")


def _shown(value: date | None) -> str | None:
    # Dates on a label are written as Vietnamese readers write them: dd/mm/yyyy.
    return value.strftime("%d/%m/%Y") if value else None


class LabelData(BaseModel):
    """The data of one unit, as the line engine hands it to a printer driver."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_name: str = Field(min_length=1)
    gtin: str
    lot: str | None = None
    serial: str | None = None
    expiry: date | None = None
    production_date: date | None = None
    best_before: date | None = None
    producer: str | None = None
    origin: str | None = None
    #: Resolver for the consumer QR code (GS1 Digital Link), without a trailing slash.
    resolver: str = GS1_RESOLVER_ROOT
    #: Free fields for a template (``{{extra.grade}}``); names are letters, digits, ``_``.
    extra: dict[str, str] = Field(default_factory=dict)

    @field_validator("gtin")
    @classmethod
    def _gtin14(cls, value: str) -> str:
        return Gtin.parse(value).value

    @field_validator("extra")
    @classmethod
    def _extra_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key.isidentifier():
                raise ValueError(f"extra field name {key!r} must be letters, digits and _")
        return value

    @model_validator(mode="after")
    def _valid_gs1(self) -> LabelData:
        # Lot and serial must be GS1 character set 82 and within length, checked once here
        # so every label built from this data carries a valid element string.
        self.gs1_message().validate()
        return self

    def with_serial(self, serial: str) -> LabelData:
        """The same data for another unit: what ``LabelData(..., serial=serial)`` gives.

        Only the serial is checked (everything else was when ``self`` was made); a serial
        that fails goes through the constructor, for its usual error.
        """
        try:
            ElementString("21", serial).validate()
        except GS1Error:
            return LabelData(**{**self.model_dump(), "serial": serial})
        return self.model_copy(update={"serial": serial})

    def gs1_message(self) -> GS1Message:
        """The unit's element strings: fixed-length AIs first, then lot and serial."""
        pairs: list[tuple[str, str]] = [("01", self.gtin)]
        for ai, when in (
            ("11", self.production_date),
            ("15", self.best_before),
            ("17", self.expiry),
        ):
            if when is not None:
                pairs.append((ai, _yymmdd(when)))
        if self.lot:
            pairs.append(("10", self.lot))
        if self.serial:
            pairs.append(("21", self.serial))
        return GS1Message.from_pairs(pairs)

    def digital_link(self) -> str:
        """The uncompressed GS1 Digital Link URI for the consumer QR code.

        Lot and serial go in the path, dates in the query string, as
        :func:`lineside.gs1.to_digital_link` orders them.
        """
        return to_digital_link(self.gs1_message(), stem=self.resolver)

    def fields(
        self, names: Collection[str] | None = None, *, message: GS1Message | None = None
    ) -> dict[str, str]:
        """Every field a template can name, as text; absent optional fields are left out.

        With ``names`` (a template's :attr:`fields`), only those are computed: a label
        without the HRI lines does not pay for them. ``message`` is the unit's
        :meth:`gs1_message` when the caller already has it.

        >>> from datetime import date
        >>> d = LabelData(product_name="Trà", gtin="08934567890120", lot="L1",
        ...               expiry=date(2027, 6, 30), extra={"grade": "A", "line": "L2"})
        >>> d.fields({"lot", "hri", "extra.grade", "serial"})
        {'lot': 'L1', 'hri': '(01)08934567890120(17)270630(10)L1', 'extra.grade': 'A'}
        """
        wanted = STANDARD_FIELDS if names is None else names
        result: dict[str, str] = {}
        for name in _ORDER:
            if name not in wanted:
                continue
            if name in _MESSAGE_FIELDS:
                message = message or self.gs1_message()
                value: str | None = _FROM_MESSAGE[name](self, message)
            elif name in _DATES:
                value = _shown(getattr(self, name))
            else:
                value = getattr(self, name)
            if value is not None:
                result[name] = value
        for key, value in self.extra.items():
            if names is None or f"extra.{key}" in names:
                result[f"extra.{key}"] = value
        return result


_DATES = frozenset({"expiry", "production_date", "best_before"})
_FROM_MESSAGE: dict[str, Callable[[LabelData, GS1Message], str]] = {
    "digital_link": lambda data, message: to_digital_link(message, stem=data.resolver),
    "element_string": lambda _, message: message.as_raw(separator=GS),
    "hri": lambda _, message: message.as_bracketed(),
    "hri_lines": lambda _, message: "\n".join(message.as_hri()),
    # One (AI) value per word (no-break space inside), so a ^FB block wraps it.
    "hri_text": lambda _, message: " ".join(h.replace(" ", "\u00a0", 1) for h in message.as_hri()),
}
_MESSAGE_FIELDS = frozenset(_FROM_MESSAGE)
