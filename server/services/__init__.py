"""What the aggregator does, with no HTTP in it: the routers in :mod:`server.api.routes`
call these functions, which take a database session and plain values and raise the
exception tree of :mod:`lineside.errors` and :mod:`server.errors`."""
