"""Things opened before use and closed after, with ``async with`` doing both."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self


class AsyncResource(abc.ABC):
    """A resource with an explicit lifecycle: :meth:`open`, use, :meth:`close`.

    ``async with`` opens on entry and closes on exit; a failed :meth:`open` propagates
    without a :meth:`close`. Subclasses implement the two methods, nothing else::

        class Port(AsyncResource):
            async def open(self) -> None: ...
            async def close(self) -> None: ...

        async with Port() as port:
            ...
    """

    @abc.abstractmethod
    async def open(self) -> None:
        """Acquire the resource (connect, bind, open a device)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the resource; closing twice is harmless."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
