"""``lineside devices``: what serial ports, USB devices, cameras and input devices exist."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# A plain `lineside devices` lists everything, so the group runs without a subcommand.
app = typer.Typer(
    name="devices",
    help="List serial ports, USB devices, cameras and input devices on this machine.",
    invoke_without_command=True,
)


@dataclass(frozen=True, slots=True)
class Device:
    """One device found on the machine."""

    kind: str
    path: str
    description: str


def serial_ports() -> list[Device]:
    """Serial ports, through pyserial's ``list_ports``."""
    from serial.tools import list_ports

    return [
        Device("serial", p.device, " ".join(x for x in (p.description, p.hwid) if x and x != "n/a"))
        for p in sorted(list_ports.comports(), key=lambda p: p.device)
    ]


def _usb_from_sysfs(root: Path) -> list[Device]:
    found: list[Device] = []
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir()):
        vid, pid = entry / "idVendor", entry / "idProduct"
        if not vid.is_file() or not pid.is_file():
            continue
        product = entry / "product"
        name = product.read_text().strip() if product.is_file() else ""
        ids = f"{vid.read_text().strip()}:{pid.read_text().strip()}"
        found.append(Device("usb", ids, name or entry.name))
    return found


def usb_devices(sysfs: Path = Path("/sys/bus/usb/devices")) -> list[Device]:
    """USB devices (VID:PID, product) via pyusb when libusb is present, else sysfs."""
    try:
        import usb.core

        handles = list(usb.core.find(find_all=True) or [])
    except Exception:  # pyusb missing, or no libusb backend: sysfs still answers
        return _usb_from_sysfs(sysfs)
    found: list[Device] = []
    for dev in handles:
        ids = f"{dev.idVendor:04x}:{dev.idProduct:04x}"
        try:
            name = str(dev.product or "")
        except (ValueError, OSError, NotImplementedError):
            name = ""  # reading the string descriptor needs permission on the device
        found.append(Device("usb", ids, name or f"bus {dev.bus} address {dev.address}"))
    return found or _usb_from_sysfs(sysfs)


def cameras(dev: Path = Path("/dev")) -> list[Device]:
    """Video devices, ``/dev/video*``."""
    found = []
    for path in sorted(dev.glob("video*")):
        name_file = Path("/sys/class/video4linux") / path.name / "name"
        name = name_file.read_text().strip() if name_file.is_file() else ""
        found.append(Device("camera", str(path), name))
    return found


def input_devices(by_id: Path = Path("/dev/input/by-id")) -> list[Device]:
    """Input devices by stable id (keyboard-wedge scanners appear as ``...-event-kbd``)."""
    if not by_id.is_dir():
        return []
    return [Device("input", str(link), str(link.resolve())) for link in sorted(by_id.iterdir())]


def all_devices() -> list[Device]:
    """Everything found, serial ports first."""
    return serial_ports() + usb_devices() + cameras() + input_devices()


@app.callback()
def devices_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List serial ports, USB devices, cameras and input devices."""
    if ctx.invoked_subcommand is not None:
        return
    found = all_devices()
    if as_json:
        typer.echo(json.dumps([asdict(d) for d in found]))
        return
    console = Console()
    if not found:
        console.print("no serial ports, USB devices, cameras or input devices found")
        return
    table = Table("kind", "path / id", "description")
    for device in found:
        table.add_row(device.kind, escape(device.path), escape(device.description))
    console.print(table)
