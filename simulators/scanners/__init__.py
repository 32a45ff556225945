"""Scanner simulators: serial (pseudo-terminal), TCP (server and client), camera frames."""

from simulators.scanners.codes import ScanEncoder, ScanFaults, SimCode, SimStats, code_from_text
from simulators.scanners.line import (
    SerialScannerSimulator,
    TcpClientScannerSimulator,
    TcpScannerSimulator,
)

__all__ = [
    "ScanEncoder",
    "ScanFaults",
    "SerialScannerSimulator",
    "SimCode",
    "SimStats",
    "TcpClientScannerSimulator",
    "TcpScannerSimulator",
    "code_from_text",
]
