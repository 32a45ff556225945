"""One daemon thread per background job of the server (portal forwarding, audit
checkpoints, EPCIS subscription delivery), started and stopped the same way.

>>> class Ticker(BackgroundThread):
...     name = "ticker"
...     def _run(self) -> None:
...         self._stopping.wait(10)
>>> ticker = Ticker()
>>> ticker.start(); ticker.stop()
"""

from __future__ import annotations

import threading

__all__ = ["BackgroundThread"]


class BackgroundThread:
    """A daemon thread running :meth:`_run` until :meth:`stop`; ``_run`` waits on
    ``self._stopping`` between rounds so that a stop ends it at once."""

    #: The thread's name, in logs and thread dumps.
    name = "background"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for its current round to end."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        raise NotImplementedError
