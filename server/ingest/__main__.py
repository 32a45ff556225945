"""Run one ingestor process: ``python -m server.ingest --db URL [--share-group G]``.

``--protocol 3.1.1`` is for brokers without MQTT 5 (then no ``--share-group``).

Prints ``ready`` on standard output once subscribed, runs until SIGTERM or SIGINT, then
prints what it stored (``stored=.. duplicates=.. statuses=.. dead_letters=..``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from pydantic import ValidationError

from server.db import make_engine, make_session_factory
from server.ingest.ingestor import Ingestor, IngestSettings
from server.ingest.processing import EventValidator
from server.ingest.validation import default_validator


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the ingestor until a signal arrives."""
    parser = argparse.ArgumentParser(prog="python -m server.ingest")
    parser.add_argument(
        "--db", required=True, help="database URL (sqlite:///... or postgresql://...)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--client-id", default="lineside-aggregator")
    parser.add_argument("--share-group", default=None)
    parser.add_argument(
        "--protocol",
        choices=("5", "3.1.1"),
        default="5",
        help="MQTT protocol version (3.1.1: no shared subscriptions, one ingestor)",
    )
    parser.add_argument("--site", action="append", help="only this site (repeatable)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-ms", type=int, default=50)
    parser.add_argument("--no-validate", action="store_true", help="skip EPCIS schema checks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = IngestSettings(
            host=args.host,
            port=args.port,
            client_id=args.client_id,
            share_group=args.share_group,
            sites=tuple(args.site) if args.site else None,
            batch_size=args.batch_size,
            batch_ms=args.batch_ms,
            protocol=args.protocol,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        parser.error(f"{where}: {error['msg']}")
    # A dead connection fails the batch, which is retried: no ping before each batch.
    engine = make_engine(args.db, pool_pre_ping=False)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    validator: EventValidator = (lambda _event: []) if args.no_validate else default_validator()
    ingestor = Ingestor(settings, make_session_factory(engine), validator)
    ingestor.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    done.wait()
    ingestor.stop()
    engine.dispose()
    totals = ingestor.totals
    sys.stdout.write(
        f"stored={totals.stored} duplicates={totals.duplicates} "
        f"statuses={totals.statuses} dead_letters={totals.dead_letters}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
