"""The exception tree shared by every Lineside package.

::

    LinesideError
    ├── InvalidInput (also ValueError): data from outside is malformed
    │   ├── GS1Error: an AI, element string, key or check digit is wrong
    │   │   ├── DigitalLinkError: a GS1 Digital Link URI is wrong
    │   │   └── ScanDataError: what a barcode reader transmitted cannot be used
    │   ├── EPCISError: an EPCIS document or event is invalid
    │   └── ContractError: an MQTT payload breaks the contract
    ├── ConfigError: a configuration file or setting is wrong
    └── DeviceError: a printer, scanner or transport failed
        ├── TransportError: connecting, reading or writing failed
        │   └── DeviceTimeout: a device did not answer in time
        └── PrinterFault: the printer reports a condition that stops printing

Lower libraries' exceptions are translated once, at the boundary where they are caught,
with ``raise X(...) from exc``. Messages name what was wrong, where, and what was
expected: ``"AI (01): check digit 1 expected, got 7"``.
"""

from __future__ import annotations


class LinesideError(Exception):
    """Base of every exception raised on purpose by Lineside."""


class InvalidInput(LinesideError, ValueError):
    """Data that came from outside (a scan, a file, a message) is malformed."""


class GS1Error(InvalidInput):
    """A GS1 key, AI value, element string or check digit is wrong."""


class DigitalLinkError(GS1Error):
    """A GS1 Digital Link URI cannot be parsed or built."""


class ScanDataError(GS1Error):
    """What a barcode reader transmitted cannot be interpreted."""


class EPCISError(InvalidInput):
    """An EPCIS 2.0 document or event is invalid."""


class ContractError(InvalidInput):
    """An MQTT topic or payload does not follow the Lineside contract."""


class ConfigError(LinesideError):
    """A configuration file or setting is wrong; the message names the key."""


class DeviceError(LinesideError):
    """A printer, scanner or their transport failed."""


class TransportError(DeviceError):
    """Connecting to, reading from or writing to a device failed."""


class DeviceTimeout(TransportError):
    """A device did not answer within the allowed time."""


class PrinterFault(DeviceError):
    """The printer reports a condition that stops printing (paper out, head open...)."""
