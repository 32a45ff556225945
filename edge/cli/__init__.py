"""The edge command groups: `printer`, `label`, `scanner`, `devices` and `edge`."""
