"""Lineside: product traceability for packing lines.

The ``lineside`` package holds what the edge agent and the aggregator share: GS1 codes
(:mod:`lineside.gs1`), EPCIS 2.0 events (:mod:`lineside.epcis`), the MQTT contract
(:mod:`lineside.contract`) and the command line (:mod:`lineside.cli`).
"""

__version__ = "0.1.0"
