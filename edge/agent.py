"""The edge agent: the engine, its devices, the outbox publisher and the operator screen.

``lineside edge run --config line.toml`` builds an :class:`Agent` and runs it until SIGTERM
or SIGINT, which stop it gracefully: no new unit is printed, the units in flight get their
verdicts, the outbox is flushed to the broker (as far as it is reachable) and the retained
line status says ``offline``. systemd is told ``READY=1`` once the agent runs and
``STOPPING=1`` when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import paho.mqtt.client as mqtt

from edge.config import LineConfig
from edge.engine import LineEngine, Phase, ReadLike, ScannerCaseVerifier
from edge.journal import Journal, OutboxItem, is_write_failure
from edge.labels import LabelApproval
from edge.line_devices import CasePrinterDevice, LineDevices, UnitPrinterDevice
from edge.outbox import OutboxPublisher
from edge.reject import make_reject_output
from edge.sdnotify import notify
from edge.serials import HttpSerialSource, LocalSerialSource, SerialSource, SerialSupply
from lineside import contract
from lineside.contract import (
    Alarm,
    AlarmCode,
    CommandAck,
    LineState,
    LineStatus,
    SerialBlockCommand,
    Severity,
    WorkOrderAction,
    WorkOrderCommand,
)
from lineside.errors import ContractError, LinesideError
from lineside.mqtt import BrokerEndpoint, LastWill

logger = logging.getLogger(__name__)

#: Exit status when the line journal cannot be written (EX_IOERR): systemd restarts the
#: agent (``Restart=always``), which recovers once the disk has room again.
EXIT_JOURNAL_FAILED = 74


def broker_endpoint(config: LineConfig) -> tuple[BrokerEndpoint, str]:
    """The broker the line publishes to, and the client ID it signs in with."""
    b = config.broker
    endpoint = BrokerEndpoint.from_url(
        b.url,
        username=b.username.read() if b.username else None,
        password=b.password.read() if b.password else None,
        keepalive_s=b.keepalive_s,
    )
    return endpoint, b.client_id or f"lineside-edge-{config.line.site}-{config.line.line_id}"


class Agent:
    """Everything one line's agent runs, wired from its configuration.

    ``devices`` are the printers and readers it drives; by default the real ones the
    configuration names (:func:`edge.devices.open_line_devices`). The application layer
    passes a simulated line instead (``lineside edge run --simulate``).
    """

    def __init__(self, config: LineConfig, *, devices: LineDevices | None = None) -> None:
        self.config = config
        #: The process exit status :meth:`run` leaves (non-zero after a journal failure).
        self.exit_code = 0
        self._direct: list[mqtt.MQTTMessageInfo] = []
        self.journal = Journal.open(config.outbox.path)
        self._loop: asyncio.AbstractEventLoop | None = None
        topics = contract.Topics(config.line.site, config.line.line_id)
        self.topics = topics
        offline = LineStatus(
            site=config.line.site, line=config.line.line_id, state=LineState.OFFLINE
        )
        self._offline = LastWill(topics.status, contract.encode(offline))
        self.publisher = OutboxPublisher(
            config.outbox.path,
            *broker_endpoint(config),
            will=self._offline,
            budget_bytes=int(config.outbox.disk_budget_mb * 1024 * 1024),
            alarm_at=config.outbox.alarm_at_percent / 100,
            confirm=config.outbox.confirm,
            receipts_topic=topics.receipts,
            resend_after_s=config.outbox.resend_after_s,
        )
        sources: list[SerialSource] = []
        if config.server is not None:
            server = config.server
            sources.append(
                HttpSerialSource(
                    server.url,
                    config.line.line_id,
                    token=server.token.read() if server.token else None,
                    username=server.username,
                    password=server.password.read() if server.password else None,
                    serial_length=server.serial_length,
                )
            )
        sources.append(LocalSerialSource())
        block = config.server.block_size if config.server else 1000
        supply = SerialSupply(
            self.journal, sources, low_water=config.policy.serials_low_water, block=block
        )
        if devices is None:
            from edge.devices import open_line_devices

            devices = open_line_devices(config)
        self.devices = devices
        case_verifier: ScannerCaseVerifier | None = None
        if devices.case_reader is not None:
            case_verifier = ScannerCaseVerifier(config.timing.case_verify_window_ms / 1000)
        self.case_verifier = case_verifier
        self.engine = LineEngine(
            config,
            self.journal,
            printer=devices.unit_printer,
            reject=make_reject_output(config.reject),
            supply=supply,
            case_printer=devices.case_printer,
            case_verifier=case_verifier,
            on_commit=self.publisher.wake,
            auto_close=True,
            on_failure=self._journal_failed,
            labels=LabelApproval.for_line(config),
        )
        devices.unit_printer.watch(self.engine.on_printer_status)
        self._stop = asyncio.Event()

    def _printers(self) -> list[UnitPrinterDevice | CasePrinterDevice]:
        """The line's printers, unit printer first (opened before, closed after a run)."""
        printers: list[UnitPrinterDevice | CasePrinterDevice] = [self.devices.unit_printer]
        if self.devices.case_printer is not None:
            printers.append(self.devices.case_printer)
        return printers

    def _journal_failed(self, message: str) -> None:
        """The journal cannot be written: alarm and status straight to the broker, then exit.

        The outbox lives in the journal, so the alarm cannot wait there.
        """
        alarm = Alarm(
            site=self.config.line.site,
            line=self.config.line.line_id,
            code=AlarmCode.OUTBOX_FULL,
            severity=Severity.CRITICAL,
            message=message[:2000],
        )
        self._direct.append(
            self.publisher.publish_direct(self.topics.alarms, contract.encode(alarm))
        )
        try:
            status = self.engine.status()
        except Exception:  # reading the journal may fail too; the status then says less
            status = LineStatus(
                site=self.config.line.site, line=self.config.line.line_id, state=LineState.STOPPING
            )
        self.publisher.publish_retained(LastWill(self.topics.status, contract.encode(status)))
        self.exit_code = EXIT_JOURNAL_FAILED
        self.request_stop()

    def failed(self) -> bool:
        """Whether the line journal failed (the agent stops and exits non-zero)."""
        return self.engine.failure is not None

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is not None and is_write_failure(exc):
            self.engine.fail(exc)
        loop.default_exception_handler(context)

    def _printer_paused(self) -> bool:
        return self.engine.phase is Phase.PAUSED and self.engine.pause_reason.startswith("printer")

    def _on_read(self, read: ReadLike) -> None:
        self.engine.on_read(read)

    def _case_reader_link(self, connected: bool, detail: str) -> None:
        # The case reader's link does not stop the line: a case it cannot verify is
        # refused on its own.
        logger.info("case reader %s %s", "connected" if connected else "disconnected", detail)

    # -- commands from the server (paho thread → loop) ----------------------------------

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._handle_guarded, message.payload, message.topic)

    def _handle_guarded(self, payload: bytes | bytearray, topic: str | None) -> None:
        if self.engine.failure is None:
            with self.engine.guard():
                self.handle_command(payload, topic)

    def handle_command(self, payload: bytes | bytearray, topic: str | None = None) -> CommandAck:
        """Carry out one command from the server; the ack goes out through the outbox."""
        command_id = "unknown"
        try:
            message = contract.decode(bytes(payload), topic)
            if isinstance(message, WorkOrderCommand):
                command_id = message.command_id
                self._work_order_command(message)
            elif isinstance(message, SerialBlockCommand):
                command_id = message.command_id
                self.journal.serials.add_to_reserve(
                    message.serials, source=f"block:{message.block_id}", gtin=message.gtin
                )
            else:
                raise ContractError(f"a {message.kind!r} message is not a command")
            ack = CommandAck(command_id=command_id, ok=True)
        except LinesideError as exc:
            if is_write_failure(exc):
                raise  # the journal cannot be written: the line stops, no ack is owed
            logger.warning("command refused: %s", exc)
            ack = CommandAck(command_id=command_id, ok=False, error=str(exc)[:500])
        payload_out = contract.encode(ack)
        self.journal.outbox.enqueue([OutboxItem(self.topics.acks, lambda _s: payload_out)])
        self.publisher.wake()
        return ack

    def _work_order_command(self, command: WorkOrderCommand) -> None:
        engine = self.engine
        if command.action is WorkOrderAction.LOAD:
            if command.order is None:
                raise ContractError("a load command needs 'order'")
            engine.load(command.order)
        elif command.action is WorkOrderAction.START:
            engine.start(operator="server")
        elif command.action is WorkOrderAction.PAUSE:
            engine.pause("server")
        elif command.action is WorkOrderAction.CLOSE:
            task = asyncio.get_running_loop().create_task(engine.close(operator="server"))
            task.add_done_callback(lambda t: t.exception())

    # -- running ------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def _status_loop(self) -> None:
        last: tuple[object, ...] | None = None
        while True:
            status = self.engine.status()
            key = (status.state, status.counters, status.work_order)
            if key != last:
                payload = contract.encode(status)
                self.publisher.publish_retained(LastWill(self.topics.status, payload))
                last = key
            usage = self.publisher.usage
            self.engine.on_outbox_usage(usage.nearly_full, usage.full)
            self.engine.on_broker(self.publisher.unreachable_for())
            notify(f"STATUS={status.state.value}: {status.counters.commissioned} commissioned")
            await asyncio.sleep(1.0)

    async def run(self) -> None:
        """Run until :meth:`request_stop` (or SIGTERM/SIGINT), then stop gracefully."""
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(self._on_loop_exception)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, self.request_stop)
        self.publisher.on_message(self.topics.commands, self._on_message)
        self.publisher.start()
        with self.engine.guard():
            self.engine.recover()
        if self.failed():
            await self._stop_failed()
            return
        for printer in self._printers():
            await printer.open()
        devices = self.devices
        # The readers listen before the engine prints its first label.
        background: list[asyncio.Task[None]] = [
            asyncio.create_task(
                devices.verify_reader.feed(self._on_read, self.engine.on_scanner_status)
            ),
            asyncio.create_task(
                devices.unit_printer.supervise(self._printer_paused, self.engine.on_printer_status)
            ),
        ]
        if devices.case_reader is not None and self.case_verifier is not None:
            background.append(
                asyncio.create_task(
                    devices.case_reader.feed(self.case_verifier.on_read, self._case_reader_link)
                )
            )
        runner = asyncio.create_task(self.engine.run())
        status = asyncio.create_task(self._status_loop())
        web: Any = None
        web_task: asyncio.Task[None] | None = None
        if self.config.web.enabled:
            import uvicorn

            from edge.web import Links, create_app

            def links() -> Links:
                return Links(
                    broker_connected=self.publisher.connected,
                    server_configured=self.config.server is not None,
                )

            web = uvicorn.Server(
                uvicorn.Config(
                    create_app(self.engine, self.config, links=links),
                    host=self.config.web.host,
                    port=self.config.web.port,
                    log_level="warning",
                    timeout_graceful_shutdown=2,
                )
            )
            web.install_signal_handlers = lambda: None  # the agent owns SIGTERM/SIGINT
            web_task = asyncio.create_task(web.serve())
        notify("READY=1")
        logger.info("agent for %s/%s running", self.config.line.site, self.config.line.line_id)
        try:
            await self._stop.wait()
        finally:
            notify("STOPPING=1")
            if self.failed():
                logger.critical("stopping at once: the line journal cannot be written")
            else:
                logger.info("stopping: finishing the units in flight, flushing the outbox")
                with self.engine.guard():
                    self.engine.pause("agent stopping")
            await self.engine.stop()
            await runner
            if web is not None and web_task is not None:
                web.should_exit = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(web_task), 5)
            for task in (status, *background):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for printer in self._printers():
                await printer.close()
            if self.failed():
                await self._stop_failed()
            else:
                await asyncio.to_thread(self.publisher.stop, flush_timeout=5.0, final=self._offline)
                self.journal.close()
                logger.info("stopped")

    async def _stop_failed(self) -> None:
        """After a journal failure: deliver the direct alarm, stop the publisher, close."""

        def deliver() -> None:
            self.publisher.wait_connected(5.0)
            for info in self._direct:
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(timeout=5.0)
            self.publisher.stop(flush_timeout=0.0, final=self._offline)

        await asyncio.to_thread(deliver)
        self.journal.close()
        self.exit_code = EXIT_JOURNAL_FAILED
        logger.critical("stopped: %s", self.engine.failure)
