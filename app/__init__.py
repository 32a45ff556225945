"""The application layer: the `lineside` command, the demo and the benchmarks.

The only layer that composes the edge agent, the server and the simulators; they, in turn,
share the core in `lineside`. An import-linter contract (pyproject.toml) keeps it so.
"""
