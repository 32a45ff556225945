"""Linters for the North American coupon AIs: (8110) coupon code and (8112) paperless
coupon offer.

Both values are digit strings of fields read left to right. A field's length is either
fixed or announced by the digit before it (a "VLI", value length indicator: GS1 Company
Prefix VLI 0-6 means 6-12 digits). After the mandatory fields of AI (8110), optional
fields follow in ascending order of a one-digit data field indicator:

====  ====================================================================
1     second qualifying purchase: rules code, requirement, code, family, GCP
2     third qualifying purchase: requirement, code, family, GCP
3     expiration date (YYMMDD)
4     start date (YYMMDD), not after the expiration date
5     serial number (VLI 0-9, then 6-15 digits)
6     retailer GS1 Company Prefix or GLN (VLI 1-7, then 7-13 digits)
9     save value code, applies-to-item, store coupon flag, don't multiply flag
====  ====================================================================

Anything after the last recognised field is excess data. A failure names the field and
spans what is left of it (the whole value when nothing is left).

>>> lint_couponcode("012345612345611110123") is None
True
>>> lint_couponcode("0123456123456111101233200230")
LintFailure(code='COUPON_INVALID_EXIPIRATION_DATE', start=22, end=28)
>>> lint_couponposoffer("001234561234560123456") is None
True
"""

from __future__ import annotations

from lineside.gs1.lintcore import LintFailure, date_linter, non_digit

__all__ = ["lint_couponcode", "lint_couponposoffer"]

_ANY_DIGIT = "0123456789"
_REQUIREMENT_CODES = "012349"
# A qualifying purchase's GCP VLI of 9 means "no GCP: use the primary one".
_PURCHASE_GCP_VLIS = "01234569"


_yymmdd = date_linter(2, day_zero=False)


class _Stop(Exception):
    """Carries the first failure out of the field reader."""

    def __init__(self, failure: LintFailure) -> None:
        super().__init__(failure.code)
        self.failure = failure


class _FieldReader:
    """Reads a coupon value's digit fields left to right; raises :class:`_Stop`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def _short(self, code: str) -> _Stop:
        # What is left of the field, or the whole value when nothing is.
        size = len(self.text)
        start = self.position if self.position < size else 0
        return _Stop(LintFailure(f"COUPON_{code}", start, size))

    def digit(self, missing: str, allowed: str = _ANY_DIGIT, invalid: str = "") -> int:
        """One digit; ``missing`` when absent, ``invalid`` when not in ``allowed``."""
        if self.position >= len(self.text):
            raise self._short(missing)
        char = self.text[self.position]
        if char not in allowed:
            raise _Stop(LintFailure(f"COUPON_{invalid}", self.position, self.position + 1))
        self.position += 1
        return int(char)

    def digits(self, count: int, truncated: str) -> str:
        """``count`` digits; ``truncated`` when fewer are left."""
        end = self.position + count
        if end > len(self.text):
            raise self._short(truncated)
        field = self.text[self.position : end]
        self.position = end
        return field

    def date(self, too_short: str, invalid: str) -> str:
        """A YYMMDD date."""
        start = self.position
        field = self.digits(6, too_short)
        if _yymmdd(field) is not None:
            raise _Stop(LintFailure(f"COUPON_{invalid}", start, start + 6))
        return field

    def next_is(self, indicator: str) -> bool:
        """Consume the data field indicator if it comes next."""
        if self.text.startswith(indicator, self.position):
            self.position += 1
            return True
        return False

    def finish(self) -> None:
        if self.position < len(self.text):
            raise _Stop(LintFailure("COUPON_EXCESS_DATA", self.position, len(self.text)))


def _purchase(reader: _FieldReader, nth: str) -> None:
    """Requirement VLI and value, requirement code and family code of one purchase."""
    size = reader.digit(
        f"MISSING_{nth}_PURCHASE_REQUIREMENT_VLI",
        "12345",
        f"INVALID_{nth}_PURCHASE_REQUIREMENT_LENGTH",
    )
    reader.digits(size, f"TRUNCATED_{nth}_PURCHASE_REQUIREMENT")
    reader.digit(
        f"MISSING_{nth}_PURCHASE_REQUIREMENT_CODE",
        _REQUIREMENT_CODES,
        f"INVALID_{nth}_PURCHASE_REQUIREMENT_CODE",
    )
    reader.digits(3, f"TRUNCATED_{nth}_PURCHASE_FAMILY_CODE")


def _purchase_gcp(reader: _FieldReader, nth: str) -> None:
    size = reader.digit(
        f"MISSING_{nth}_PURCHASE_GCP_VLI", _PURCHASE_GCP_VLIS, f"INVALID_{nth}_PURCHASE_GCP_LENGTH"
    )
    if size != 9:
        reader.digits(6 + size, f"TRUNCATED_{nth}_PURCHASE_GCP")


def _couponcode_fields(reader: _FieldReader) -> None:
    size = reader.digit("MISSING_GCP_VLI", "0123456", "INVALID_GCP_LENGTH")
    reader.digits(6 + size, "TRUNCATED_GCP")
    reader.digits(6, "TRUNCATED_OFFER_CODE")
    size = reader.digit("MISSING_SAVE_VALUE_VLI", "12345", "INVALID_SAVE_VALUE_LENGTH")
    reader.digits(size, "TRUNCATED_SAVE_VALUE")
    _purchase(reader, "1ST")
    if reader.next_is("1"):
        reader.digit(
            "MISSING_ADDITIONAL_PURCHASE_RULES_CODE",
            "0123",
            "INVALID_ADDITIONAL_PURCHASE_RULES_CODE",
        )
        _purchase(reader, "2ND")
        _purchase_gcp(reader, "2ND")
    if reader.next_is("2"):
        _purchase(reader, "3RD")
        _purchase_gcp(reader, "3RD")
    expiry_field = reader.position
    expiry = (
        reader.date("TOO_SHORT_FOR_EXPIRATION_DATE", "INVALID_EXIPIRATION_DATE")
        if (reader.next_is("3"))
        else None
    )
    if reader.next_is("4"):
        start = reader.date("TOO_SHORT_FOR_START_DATE", "INVALID_START_DATE")
        # Same-century YYMMDD strings compare like the dates they stand for.
        if expiry is not None and expiry < start:
            raise _Stop(
                LintFailure("COUPON_EXPIRATION_BEFORE_START", expiry_field, reader.position)
            )
    if reader.next_is("5"):
        size = reader.digit("MISSING_SERIAL_NUMBER_VLI")
        reader.digits(6 + size, "TRUNCATED_SERIAL_NUMBER")
    if reader.next_is("6"):
        size = reader.digit(
            "MISSING_RETAILER_GCP_OR_GLN_VLI", "1234567", "INVALID_RETAILER_GCP_OR_GLN_LENGTH"
        )
        reader.digits(6 + size, "TRUNCATED_RETAILER_GCP_OR_GLN")
    if reader.next_is("9"):
        reader.digit("MISSING_SAVE_VALUE_CODE", "01256", "INVALID_SAVE_VALUE_CODE")
        reader.digit(
            "MISSING_SAVE_VALUE_APPLIES_TO_ITEM", "012", "INVALID_SAVE_VALUE_APPLIES_TO_ITEM"
        )
        reader.digit("MISSING_STORE_COUPON_FLAG")
        reader.digit("MISSING_DONT_MULTIPLY_FLAG", "01", "INVALID_DONT_MULTIPLY_FLAG")
    reader.finish()


def _couponposoffer_fields(reader: _FieldReader) -> None:
    reader.digit("MISSING_FORMAT_CODE", "01", "INVALID_FORMAT_CODE")
    size = reader.digit("MISSING_FUNDER_VLI", "0123456", "INVALID_FUNDER_LENGTH")
    reader.digits(6 + size, "TRUNCATED_FUNDER")
    reader.digits(6, "TRUNCATED_OFFER_CODE")
    size = reader.digit("MISSING_SERIAL_NUMBER_VLI")
    reader.digits(6 + size, "TRUNCATED_SERIAL_NUMBER")
    reader.finish()


def lint_couponcode(text: str) -> LintFailure | None:
    """The ``couponcode`` linter: AI (8110), North American coupon code.

    >>> lint_couponcode("71234567890123")
    LintFailure(code='COUPON_INVALID_GCP_LENGTH', start=0, end=1)
    """
    failure = non_digit(text)
    if failure is not None:
        return failure
    try:
        _couponcode_fields(_FieldReader(text))
    except _Stop as stop:
        return stop.failure
    return None


def lint_couponposoffer(text: str) -> LintFailure | None:
    """The ``couponposoffer`` linter: AI (8112), paperless coupon offer.

    >>> lint_couponposoffer("00123456")
    LintFailure(code='COUPON_TRUNCATED_OFFER_CODE', start=0, end=8)
    """
    failure = non_digit(text)
    if failure is not None:
        return failure
    try:
        _couponposoffer_fields(_FieldReader(text))
    except _Stop as stop:
        return stop.failure
    return None
