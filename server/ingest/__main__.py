"""Run one ingestor process: ``python -m server.ingest --db URL [--share-group G]``.

``--protocol 3.1.1`` is for brokers without MQTT 5 (then no ``--share-group``).
``--source jetstream --nats nats://n1:4222 --nats nats://n2:4222 ...`` consumes the clustered
stream instead (``lineside server jetstream-setup`` creates it; see docs/scaling.md).

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

from lineside.errors import LinesideError
from server.db import make_engine, make_session_factory
from server.ingest.ingestor import Ingestor, IngestSettings
from server.ingest.jetstream import JetStreamIngestor, JetStreamSettings
from server.ingest.processing import EventValidator
from server.ingest.validation import default_validator


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the ingestor until a signal arrives."""
    parser = argparse.ArgumentParser(prog="python -m server.ingest")
    parser.add_argument(
        "--db", required=True, help="database URL (sqlite:///... or postgresql://...)"
    )
    parser.add_argument(
        "--source",
        choices=("mqtt", "jetstream"),
        default="mqtt",
        help="an MQTT broker, or the JetStream stream of a NATS cluster",
    )
    parser.add_argument(
        "--nats", action="append", help="a NATS node URL, with --source jetstream (repeatable)"
    )
    parser.add_argument("--durable", default="aggregators", help="JetStream consumer to pull")
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
    settings: IngestSettings | JetStreamSettings
    try:
        if args.source == "jetstream":
            if args.share_group is not None:
                parser.error(
                    "--share-group: with --source jetstream every process shares "
                    "the durable consumer (--durable)"
                )
            settings = JetStreamSettings(
                servers=tuple(args.nats or ("nats://127.0.0.1:4222",)),
                durable=args.durable,
                client_name=args.client_id,
                sites=tuple(args.site) if args.site else None,
                batch_size=args.batch_size,
                batch_ms=args.batch_ms,
            )
        else:
            if args.nats:
                parser.error("--nats: only with --source jetstream")
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
    ingestor: Ingestor | JetStreamIngestor
    if isinstance(settings, JetStreamSettings):
        ingestor = JetStreamIngestor(settings, make_session_factory(engine), validator)
    else:
        ingestor = Ingestor(settings, make_session_factory(engine), validator)
    try:
        ingestor.start()
    except LinesideError as exc:
        sys.stderr.write(f"ingestor: {exc}\n")
        return 1
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
