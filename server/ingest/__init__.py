"""MQTT ingestion: line messages into the database, batched, acknowledged after commit.

>>> from server.ingest import IngestSettings
>>> IngestSettings().batch_size
500
"""

from __future__ import annotations

from server.ingest.ingestor import Ingestor, IngestSettings
from server.ingest.processing import (
    BatchEventValidator,
    BatchProcessor,
    BatchResult,
    EventValidator,
    InboundMessage,
    PreparedBatch,
)

__all__ = [
    "BatchEventValidator",
    "BatchProcessor",
    "BatchResult",
    "EventValidator",
    "InboundMessage",
    "IngestSettings",
    "Ingestor",
    "PreparedBatch",
]
