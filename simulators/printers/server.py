"""Serve a simulated printer on a real TCP port and/or a pseudo-terminal.

>>> import asyncio
>>> from simulators.printers.engines import ZplEngine
>>> async def demo() -> int:
...     async with PrinterSimulator(ZplEngine(), port=0) as sim:
...         return sim.port
>>> asyncio.run(demo()) > 0
True

Control channel (``control_port``): one command per line, one JSON line back::

    paper_out | paper_out_after N | paper_in | head_open | head_close | garbage on|off
    silent on|off | disconnect | disconnect_mid_label | slow SECONDS | status | printed
    ribbon_out on|off | cutter_fault on|off | head_too_hot on|off | garbage_hqes on|off
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pty
import tty

from lineside.lifecycle import AsyncResource
from simulators.printers.engines import EscposEngine, LinkDrop, ZplEngine

logger = logging.getLogger(__name__)

Engine = ZplEngine | EscposEngine

#: The control channel's commands and what each does (``lineside sim --help`` lists them).
CONTROL_COMMANDS: tuple[tuple[str, str], ...] = (
    ("paper_out", "the paper runs out now"),
    ("paper_out_after N", "the paper runs out after N more labels"),
    ("paper_in", "a new roll is loaded"),
    ("head_open / head_close", "the print head is opened / closed"),
    ("ribbon_out on|off", "the ribbon runs out / is replaced"),
    ("cutter_fault on|off", "a cutter fault (reported by ~HQES)"),
    ("head_too_hot on|off", "the head overheats"),
    ("garbage on|off", "status replies (~HS, DLE EOT) are garbage"),
    ("garbage_hqes on|off", "~HQES replies are garbage"),
    ("silent on|off", "the printer answers nothing at all"),
    ("slow SECONDS", "status replies come SECONDS late"),
    ("disconnect", "drop the link now"),
    ("disconnect_mid_label", "drop the link when the next label has half arrived"),
    ("status", "the faults and the count of labels printed"),
    ("printed", "the fields of every label printed"),
)


class PrinterSimulator(AsyncResource):
    """Runs ``engine`` on TCP (``port``; 0 picks a free one) and optionally a pty."""

    def __init__(
        self,
        engine: Engine,
        *,
        host: str = "127.0.0.1",
        port: int | None = 0,
        pty: bool = False,
        control_port: int | None = None,
    ) -> None:
        self.engine = engine
        self.host = host
        self._want_port = port
        self._want_pty = pty
        self._want_control = control_port
        self.port = 0
        self.control_port = 0
        self.pty_path: str | None = None
        self._servers: list[asyncio.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._master: int | None = None
        self._slave: int | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    async def open(self) -> None:
        """Open the TCP port, the pty and the control channel as configured."""
        if self._want_port is not None:
            server = await asyncio.start_server(self._serve_tcp, self.host, self._want_port)
            self.port = server.sockets[0].getsockname()[1]
            self._servers.append(server)
        if self._want_pty:
            self._open_pty()
        if self._want_control is not None:
            server = await asyncio.start_server(self._serve_control, self.host, self._want_control)
            self.control_port = server.sockets[0].getsockname()[1]
            self._servers.append(server)

    async def close(self) -> None:
        """Close everything; connected clients see the link drop."""
        for writer in list(self._writers):
            writer.close()
        for server in self._servers:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()
        self._close_pty()

    # --- transports ---------------------------------------------------------------------

    async def _answer(self, data: bytes) -> bytes:
        try:
            reply = self.engine.feed(data)
        except LinkDrop:
            raise
        if reply and self.engine.faults.status_delay:
            await asyncio.sleep(self.engine.faults.status_delay)
        return reply

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while data := await reader.read(65536):
                reply = await self._answer(data)
                if reply:
                    writer.write(reply)
                    await writer.drain()
        except LinkDrop:
            logger.info("simulated disconnect")
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _open_pty(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.pty_path = os.ttyname(slave)
        asyncio.get_running_loop().add_reader(master, self._on_pty_readable)

    def _close_pty(self) -> None:
        if self._master is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def _on_pty_readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:
            return
        task = asyncio.ensure_future(self._pty_reply(data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pty_reply(self, data: bytes) -> None:
        try:
            reply = await self._answer(data)
        except LinkDrop:
            self.disconnect()
            return
        if reply and self._master is not None:
            with contextlib.suppress(OSError):
                os.write(self._master, reply)

    def disconnect(self) -> None:
        """Drop every TCP client and the pty (a new pty path is made when one was open)."""
        for writer in list(self._writers):
            writer.close()
        if self._master is not None:
            self._close_pty()
            self._open_pty()

    # --- control channel ------------------------------------------------------------------

    def control(self, line: str) -> dict[str, object]:
        """Apply one control command (the same language as the control channel)."""
        words = line.split()
        faults = self.engine.faults
        if not words:
            return {"error": "empty command"}
        cmd, args = words[0].lower(), words[1:]
        flag = bool(args) and args[0].lower() in {"on", "1", "true"}
        if cmd == "paper_out":
            faults.paper_out = True
        elif cmd == "paper_out_after" and args and args[0].isdigit():
            faults.paper_out_after = int(args[0])
        elif cmd == "paper_in":
            faults.paper_out = False
        elif cmd == "head_open":
            faults.head_open = True
        elif cmd == "head_close":
            faults.head_open = False
        elif cmd == "garbage":
            faults.garbage_status = flag
        elif cmd in {"ribbon_out", "cutter_fault", "head_too_hot", "garbage_hqes"}:
            setattr(faults, cmd, flag)
        elif cmd == "silent":
            faults.silent = flag
        elif cmd == "slow" and args:
            try:
                faults.status_delay = float(args[0])
            except ValueError:
                return {"error": f"slow: {args[0]!r} is not a number of seconds"}
        elif cmd == "disconnect":
            self.disconnect()
        elif cmd == "disconnect_mid_label":
            faults.disconnect_mid_label = True
        elif cmd == "printed":
            return {"printed": [list(label.fields) for label in self.engine.printed]}
        elif cmd != "status":
            known = ", ".join(name.split()[0] for name, _ in CONTROL_COMMANDS)
            return {"error": f"unknown command {line.strip()!r}; known commands: {known}"}
        status = self.engine.status()
        return {"ok": True, "faults": list(status.faults), "printed": len(self.engine.printed)}

    async def _serve_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while line := await reader.readline():
                answer = self.control(line.decode("utf-8", "replace"))
                writer.write(json.dumps(answer).encode("utf-8") + b"\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
