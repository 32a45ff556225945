"""Every async test here is checked for leaked tasks."""

from tests.support.asyncio_checks import no_leaked_tasks

__all__ = ["no_leaked_tasks"]
