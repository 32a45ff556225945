"""The aggregator's own exceptions, below the shared tree of :mod:`lineside.errors`.

::

    LinesideError
    ├── InvalidInput (GS1Error, EPCISError, ContractError...): the request's data is wrong
    ├── DeviceError → TransportError: the broker did not take a command
    ├── NotFound: the record named does not exist
    ├── Conflict: the change clashes with stored data or with the record's state
    ├── NotSignedIn: no token, or one that cannot be trusted
    ├── NotAllowed: the caller's role may not do this
    ├── TooManyRequests: the caller spent its allowance
    ├── MalformedRequest: bytes no route should see (NUL, lone surrogates, deep nesting)
    ├── BodyTooLarge: the request body is larger than the server reads
    └── EPCISException: a refusal named by the EPCIS 2.0 interface standard
        ├── ValidationException: the capture document is invalid
        ├── QueryParameterException: a query parameter is invalid
        ├── CaptureLimitExceededException: the capture document is too big
        ├── NoSuchResourceException: the capture job or resource does not exist
        ├── QueryTooLargeException: more events match than maxEventCount allows (413)
        ├── NotAcceptableException: no binding the client accepts (406)
        ├── UnsupportedMediaTypeException: a capture body in neither binding (415)
        ├── NoSuchNameException: no named query or subscription of that name (404)
        ├── ResourceAlreadyExistsException: a named query of that name exists (409)
        ├── SubscriptionControlsException: an invalid subscription (400)
        └── SecurityException: the caller may not report these events (403)

Services raise these and know nothing of HTTP; one handler
(:mod:`server.api.problems`) turns every one into an ``application/problem+json``
response.

>>> str(NotFound("lines: no 'L9'"))
"lines: no 'L9'"
>>> ValidationException("bad", issues=["x"]).issues
('x',)
"""

from __future__ import annotations

from collections.abc import Iterable

from lineside.errors import LinesideError

__all__ = [
    "BodyTooLarge",
    "CaptureLimitExceededException",
    "Conflict",
    "EPCISException",
    "MalformedRequest",
    "NoSuchResourceException",
    "NotAcceptableException",
    "NotAllowed",
    "NotFound",
    "NotSignedIn",
    "QueryParameterException",
    "QueryTooLargeException",
    "SecurityException",
    "TooManyRequests",
    "UnsupportedMediaTypeException",
    "ValidationException",
]


class NotFound(LinesideError):
    """The record a request names does not exist."""


class Conflict(LinesideError):
    """The change clashes with stored data or with the state the record is in."""


class NotSignedIn(LinesideError):
    """The request carries no token, or one that is unknown, expired or revoked.

    ``invalid_token`` tells a missing token from one that cannot be trusted.
    """

    def __init__(self, message: str, *, invalid_token: bool = False) -> None:
        super().__init__(message)
        self.invalid_token = invalid_token


class NotAllowed(LinesideError):
    """The caller is signed in but their role may not do this."""


class TooManyRequests(LinesideError):
    """The caller spent its allowance; ``retry_after`` seconds until it may try again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MalformedRequest(LinesideError):
    """The request carries what no route accepts: NUL bytes, lone surrogates, text that is
    not UTF-8, nesting or numbers deeper or longer than any real document."""


class BodyTooLarge(LinesideError):
    """The request body is larger than the server reads for this route."""


class EPCISException(LinesideError):
    """A refusal the EPCIS 2.0 interface standard names (``epcisException:<name>``).

    ``issues`` lists every problem found, when there are several; ``title`` replaces the
    class's summary when one case of it deserves its own.
    """

    #: The standard's name of the exception, the class name by default.
    name: str = "EPCISException"
    #: A short, fixed summary of the kind of problem.
    title: str = "EPCIS request refused"

    def __init__(
        self, detail: str, *, issues: Iterable[str] = (), title: str | None = None
    ) -> None:
        super().__init__(detail)
        self.issues = tuple(issues)
        if title is not None:
            self.title = title


class ValidationException(EPCISException):
    """The capture document is not a valid EPCIS 2.0 document."""

    name = "ValidationException"
    title = "Invalid EPCIS document"


class QueryParameterException(EPCISException):
    """A query parameter is unknown or has an invalid value."""

    name = "QueryParameterException"
    title = "Invalid query parameter"


class CaptureLimitExceededException(EPCISException):
    """The capture document is larger than the server accepts."""

    name = "CaptureLimitExceededException"
    title = "Capture document too large"


class NoSuchResourceException(EPCISException):
    """The capture job (or other EPCIS resource) named does not exist."""

    name = "NoSuchResourceException"
    title = "Unknown EPCIS resource"


class QueryTooLargeException(EPCISException):
    """More events match the query than its ``maxEventCount`` allows."""

    name = "QueryTooLargeException"
    title = "Query result too large"


class NotAcceptableException(EPCISException):
    """The client accepts neither JSON-LD nor XML."""

    name = "NotAcceptableException"
    title = "No acceptable representation"


class UnsupportedMediaTypeException(EPCISException):
    """A capture body declared as something other than JSON(-LD) or XML."""

    name = "UnsupportedMediaTypeException"
    title = "Unsupported media type"


class SecurityException(EPCISException):
    """The caller may not capture these events (another organisation's codes)."""

    name = "SecurityException"
    title = "Not authorised"


class NoSuchNameException(NoSuchResourceException):
    """The named query (or a subscription to it) does not exist."""

    name = "NoSuchNameException"
    title = "Unknown query name"


class ResourceAlreadyExistsException(EPCISException):
    """A named query (or other EPCIS resource) of that name already exists."""

    name = "ResourceAlreadyExistsException"
    title = "EPCIS resource already exists"


class SubscriptionControlsException(EPCISException):
    """A subscription's destination, schedule or stream setting is invalid."""

    name = "SubscriptionControlsException"
    title = "Invalid subscription"
