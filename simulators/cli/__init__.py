"""The `lineside sim` command group: printers, scanners and a whole line, simulated."""
