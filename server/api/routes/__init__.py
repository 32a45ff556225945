"""The aggregator's routers, one module per area; each is thin and calls
:mod:`server.services`. No router imports another."""
