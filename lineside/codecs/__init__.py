"""Wire codecs that the edge agent and the simulators both speak, sans I/O.

ZPL and its `~HS`/`~HQES` status replies, ESC/POS and its `DLE EOT` status, code pages,
ZPL rendering for previews, and scanner framing: bytes in, values out, no device needed.
"""
