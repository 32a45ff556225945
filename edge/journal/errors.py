"""The journal's exceptions, and the translation of ``sqlite3`` errors into them.

::

    LinesideError
    └── JournalError: the journal refused an operation, or SQLite failed for another reason
        └── JournalWriteError: the journal cannot be written (disk full, I/O error)

Every store translates ``sqlite3`` errors at its boundary with :func:`translate`, so no
caller of the journal sees a ``sqlite3`` exception.

>>> import sqlite3
>>> full = sqlite3.OperationalError("database or disk is full")
>>> full.sqlite_errorcode = 13
>>> type(translate(full)).__name__, str(translate(full))
('JournalWriteError', 'database or disk is full')
"""

from __future__ import annotations

import sqlite3

from lineside.errors import LinesideError


class JournalError(LinesideError):
    """The journal refused an operation (unknown serial, illegal transition, empty reserve)."""


class JournalWriteError(JournalError):
    """The journal could not be written (disk full, I/O error): the line must stop.

    Nothing a failed write touched is durable, so whatever depended on it (a label about to
    be printed) must not happen; the database itself stays intact.
    """


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the line database cannot take writes (full disk, I/O error)."""
    if isinstance(exc, JournalWriteError):
        return True
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    # SQLITE_FULL (13), SQLITE_IOERR (10 and its extended codes), SQLITE_READONLY (8),
    # SQLITE_CANTOPEN (14); other errors (constraint violations...) are bugs, not faults.
    return code is None or code & 0xFF in (8, 10, 13, 14)


def translate(exc: sqlite3.Error) -> JournalError:
    """The journal exception for a ``sqlite3`` error; raise it ``from exc``.

    The message is SQLite's own ("database or disk is full"), which operators and the
    line's alarms already quote.
    """
    if is_write_failure(exc):
        return JournalWriteError(str(exc))
    return JournalError(str(exc))
