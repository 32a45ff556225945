"""USB printer transports: pyusb (``usb://VID:PID``) and the kernel node (``usb:///dev/usb/lp0``).

pyusb calls block, so they run in a worker thread; the ``usblp`` node is a file
descriptor driven by the event loop like a serial port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from edge.drivers.base import Transport
from edge.drivers.fdio import FdTransport
from edge.drivers.url import UsbLpSpec, UsbSpec
from lineside.errors import DeviceTimeout, TransportError

logger = logging.getLogger(__name__)

_LIBUSB_HINT = "install pyusb (extra 'usb') and the system library libusb-1.0-0"


class UsbTransport(Transport):
    """A USB printer's bulk endpoints through pyusb.

    >>> from edge.drivers.url import parse_transport_url
    >>> UsbTransport(parse_transport_url("usb://0a5f:0100")).is_open
    False
    """

    def __init__(self, spec: UsbSpec, *, write_timeout: float = 5.0) -> None:
        self.url = spec.url
        self._spec = spec
        self._write_timeout = write_timeout
        self._device: Any = None
        self._ep_out: Any = None
        self._ep_in: Any = None
        self._failed = False

    @property
    def is_open(self) -> bool:
        return self._device is not None and not self._failed

    def _open_blocking(self) -> tuple[Any, Any, Any]:
        try:
            import usb.core
            import usb.util
        except ImportError as exc:
            raise TransportError(f"{self.url}: pyusb is not installed; {_LIBUSB_HINT}") from exc
        spec = self._spec
        try:
            device = usb.core.find(idVendor=spec.vendor_id, idProduct=spec.product_id)
        except usb.core.NoBackendError as exc:
            raise TransportError(f"{self.url}: no libusb backend; {_LIBUSB_HINT}") from exc
        if device is None:
            raise TransportError(
                f"{self.url}: no USB device {spec.vendor_id:04x}:{spec.product_id:04x} "
                "is connected (check the cable and `lsusb`)"
            )
        try:
            if spec.serial_number and device.serial_number != spec.serial_number:
                raise TransportError(
                    f"{self.url}: device serial is {device.serial_number!r}, "
                    f"expected {spec.serial_number!r}"
                )
            with contextlib.suppress(NotImplementedError, usb.core.USBError):
                if device.is_kernel_driver_active(0):
                    device.detach_kernel_driver(0)
            device.set_configuration()
            interface = device.get_active_configuration()[(0, 0)]

            def direction(wanted: int) -> Any:
                return usb.util.find_descriptor(
                    interface,
                    custom_match=lambda ep: (
                        usb.util.endpoint_direction(ep.bEndpointAddress) == wanted
                    ),
                )

            ep_out = direction(usb.util.ENDPOINT_OUT)
            ep_in = direction(usb.util.ENDPOINT_IN)
        except usb.core.USBError as exc:
            raise TransportError(f"{self.url}: cannot claim the device: {exc}") from exc
        if ep_out is None:
            raise TransportError(f"{self.url}: the device has no bulk OUT endpoint")
        return device, ep_out, ep_in

    async def open(self) -> None:
        await self.close()
        self._device, self._ep_out, self._ep_in = await asyncio.to_thread(self._open_blocking)
        self._failed = False

    async def close(self) -> None:
        device, self._device = self._device, None
        self._ep_out = self._ep_in = None
        if device is None:
            return
        with contextlib.suppress(Exception):
            import usb.util

            await asyncio.to_thread(usb.util.dispose_resources, device)

    def _require(self) -> None:
        if self._device is None:
            raise TransportError(f"{self.url}: not open")
        if self._failed:
            raise TransportError(f"{self.url}: the link failed; reopen it")

    async def write(self, data: bytes) -> None:
        self._require()
        import usb.core

        timeout_ms = int(self._write_timeout * 1000)
        try:
            await asyncio.to_thread(self._ep_out.write, data, timeout_ms)
        except usb.core.USBTimeoutError as exc:
            self._failed = True
            raise DeviceTimeout(f"{self.url}: write timed out after {timeout_ms} ms") from exc
        except usb.core.USBError as exc:
            self._failed = True
            raise TransportError(f"{self.url}: write failed: {exc}") from exc

    async def read(self, max_bytes: int = 4096, timeout: float | None = None) -> bytes:
        self._require()
        if self._ep_in is None:
            raise TransportError(f"{self.url}: the device has no IN endpoint to read from")
        import usb.core

        timeout_ms = 0 if timeout is None else max(1, int(timeout * 1000))
        try:
            data = await asyncio.to_thread(self._ep_in.read, max_bytes, timeout_ms)
        except usb.core.USBTimeoutError as exc:
            raise DeviceTimeout(f"{self.url}: no data within {timeout:g} s") from exc
        except usb.core.USBError as exc:
            self._failed = True
            raise TransportError(f"{self.url}: read failed: {exc}") from exc
        return bytes(data)


class UsbLpTransport(FdTransport):
    """A USB printer through the kernel ``usblp`` driver's device node."""

    def __init__(self, spec: UsbLpSpec, *, write_timeout: float = 5.0) -> None:
        super().__init__(spec.url, write_timeout=write_timeout)
        self._spec = spec
        self._fd: int | None = None

    async def open(self) -> None:
        await self.close()
        try:
            self._fd = os.open(self._spec.path, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
        except FileNotFoundError as exc:
            raise TransportError(
                f"{self.url}: {self._spec.path} does not exist (printer unplugged, or the "
                "usblp module is not loaded)"
            ) from exc
        except OSError as exc:
            raise TransportError(f"{self.url}: cannot open {self._spec.path}: {exc}") from exc
        self._failed = False

    async def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _descriptor(self) -> int | None:
        return self._fd
