"""The clustered central broker under load and under faults (``lineside bench cluster``).

Three runs of simulated sites and lines through site Mosquittos (:mod:`app.cluster`), into
three aggregator processes and PostgreSQL, side by side:

* **cluster, flat out**: the three-node NATS cluster (JetStream stream with three
  replicas, one durable consumer shared by the aggregators) — ``cluster_events_per_s``;
* **one Mosquitto, flat out**: the same workload with the site brokers bridged to a single
  central Mosquitto and the aggregators on a shared subscription — the baseline;
* **cluster, faults**: the lines paced, the stream's leader node killed at 30 % of the
  events and an aggregator at 50 % — ``cluster_units_lost``, ``cluster_duplicates_stored``
  and ``cluster_recovery_s`` (from the kill until every line had an event stored that it
  published after the kill).

Not part of the default ``lineside bench`` run: it starts a dozen processes for minutes.
"""

from __future__ import annotations

from dataclasses import replace

from app.bench.report import Figure
from app.cluster import RunResult, Workload, run_workload


def bench_cluster(quick: bool = False) -> list[Figure]:
    """Throughput of the cluster beside one Mosquitto, then the fault run."""
    per_line = 200 if quick else 1000
    flat = Workload(
        sites=3,
        lines_per_site=2,
        events_per_line=per_line,
        rate_per_line=None,
        window=400,
        aggregators=3,
        # The agent's default: flat out, a line's 400 unreceipted events take longer than
        # a few seconds to drain, and resending them would only measure the resends.
        resend_after_s=30.0,
    )
    cluster = run_workload(flat)
    single = run_workload(replace(flat, central="mosquitto"))
    faults = run_workload(
        replace(
            flat,
            events_per_line=150 if quick else 400,
            rate_per_line=25.0,
            resend_after_s=5.0,
            kill_node_at=0.3,
            kill_aggregator_at=0.5,
        )
    )
    shape = f"3 sites x 2 lines, 3 aggregators, PostgreSQL, {per_line} events per line"
    return [
        Figure(
            "cluster_events_per_s",
            round(cluster.events_per_s, 1),
            "events/s",
            target=50.0,
            baseline_name="single_mosquitto_events_per_s",
            baseline=round(single.events_per_s, 1),
            note=(
                f"{shape}; flat out, lines confirm on the server's receipts; "
                f"{cluster.redelivered} redeliveries{_notes(cluster)}"
            ),
        ),
        Figure(
            "cluster_units_lost",
            float(faults.lost),
            "events",
            target=0.0,
            lower_is_better=True,
            baseline_name="single_mosquitto_units_lost",
            baseline=float(single.lost),
            note=f"{_fault_note(faults)}{_notes(faults)}",
        ),
        Figure(
            "cluster_duplicates_stored",
            float(faults.duplicates_stored),
            "events",
            target=0.0,
            lower_is_better=True,
            baseline_name="single_mosquitto_duplicates_stored",
            baseline=float(single.duplicates_stored),
            note=(
                f"{faults.redelivered} redeliveries found already stored and ignored; "
                f"{_fault_note(faults)}"
            ),
        ),
        Figure(
            "cluster_recovery_s",
            round(faults.recovery_s, 2) if faults.recovery_s is not None else float("inf"),
            "s",
            target=30.0,
            lower_is_better=True,
            note=(
                f"node {faults.killed_node} (stream leader) killed: until every line had an "
                "event stored that it published after the kill; lines resend unreceipted "
                "events after 5 s"
            ),
        ),
    ]


def _fault_note(run: RunResult) -> str:
    return (
        f"{run.events} events at 25/s per line; stream leader {run.killed_node} killed at 30 %, "
        "an aggregator at 50 %"
    )


def _notes(run: RunResult) -> str:
    return f" ({'; '.join(run.notes)})" if run.notes else ""
