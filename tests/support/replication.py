"""A PostgreSQL primary with a streaming standby, for the read-replica tests.

A thin wrapper over :func:`app.bench.pg_cluster.replication_pair`: the pair is started
once per test module, with a migrated ``lineside`` database the standby replicates.
Skips when the PostgreSQL server binaries are not installed (CI installs them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from app.bench.pg_cluster import ReplicationPair, find_bindir, replication_pair
from lineside.errors import ConfigError
from server.db import migrate

DATABASE = "lineside"


def replicated_database() -> Iterator[ReplicationPair]:
    """Yield a running pair whose primary holds a migrated ``lineside`` database, already
    replayed by the standby."""
    try:
        bindir = find_bindir()
    except ConfigError as exc:
        pytest.skip(str(exc))
    with replication_pair(bindir=bindir) as pair:
        admin = create_engine(pair.primary_url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
        finally:
            admin.dispose()
        migrate(pair.primary_url(DATABASE))
        pair.wait_replayed()
        yield pair
