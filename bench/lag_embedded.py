"""End-to-end lag with the embedded log projectors: command accepted → applied by the read model.

Commands (`Tenancy.issue_token`, group commit) are issued open-loop at a steady `--rate` for
`--seconds` by a few worker threads, each recording the log position its command returned and
when it returned. An observer thread polls every projection's tracking position
(`<schema>.tracking`, the same row `projections.consistency.log_position` reads) about every
millisecond on its own connection and records when each position was first seen. A command's
lag is (first time its projection's position >= the command's position) - (time it returned),
floored at 0 (the projector can win the race against the command thread's return).
`directory` is the read model holding `tokens_view`; read models that do not apply token
events (catalogue, deployments, tasks) are left out.

    python -m bench.lag_embedded [--quick] [--rate 200] [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import bisect
import os
import threading
import time
from dataclasses import dataclass, field

import psycopg
from eventsourcing.utils import get_topic

from bench.common import bench_container, log, median, ms, percentile, print_table, seed_owner
from domain.tenancy.tokens import ApiToken
from domain.tenancy.values import Scope
from infra.container import Container
from projections.base import LOG_SOURCE, Projection
from projections.registry import all_projections


@dataclass
class Observed:
    times: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)

    def first_reaching(self, position: int) -> float | None:
        i = bisect.bisect_left(self.positions, position)
        return self.times[i] if i < len(self.times) else None


@dataclass
class LagRun:
    sent: int
    seconds: float
    command_latencies: list[float]
    lags: dict[str, list[float]]
    missing: dict[str, int]
    errors: int
    late_starts: int


def observe(
    url: str, names: list[str], stop: threading.Event, out: dict[str, Observed], interval: float
) -> None:
    query = " UNION ALL ".join(
        f"SELECT '{n}', coalesce(max(position), 0) FROM {n}.tracking"
        f" WHERE source = '{LOG_SOURCE}' AND part = 0"
        for n in names
    )
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            rows = conn.execute(query, prepare=True).fetchall()
            now = time.perf_counter()
            for name, position in rows:
                seen = out[name]
                if not seen.positions or position > seen.positions[-1]:
                    seen.positions.append(position)
                    seen.times.append(now)
            time.sleep(interval)


def run_once(
    container: Container,
    slug: str,
    owner_id: object,
    rate: float,
    seconds: float,
    workers: int,
    interval: float,
) -> LagRun:
    names = [p.name for p in all_projections() if _handles_tokens(p)]
    observed = {n: Observed() for n in names}
    stop = threading.Event()
    observer = threading.Thread(
        target=observe, args=(container.database_url, names, stop, observed, interval), daemon=True
    )
    observer.start()
    total = int(rate * seconds)
    lock = threading.Lock()
    next_index = [0]
    accepted: list[tuple[float, int]] = []
    command_latencies: list[float] = []
    errors = [0]
    late = [0]
    t0 = time.perf_counter() + 0.2

    def worker() -> None:
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= total:
                return
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.005:
                late[0] += 1
            started = time.perf_counter()
            try:
                issued = container.tenancy.issue_token(
                    slug, owner_id, "lag", [Scope.MCP_READ], None
                )
            except Exception:  # counted, not fatal
                errors[0] += 1
                continue
            done = time.perf_counter()
            with lock:
                accepted.append((done, issued.position))
                command_latencies.append(done - started)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    # Let the projectors finish the tail before the observer stops.
    deadline = time.perf_counter() + 10
    head = max((p for _, p in accepted), default=0)
    while time.perf_counter() < deadline and any(
        not o.positions or o.positions[-1] < head for o in observed.values()
    ):
        time.sleep(0.01)
    stop.set()
    observer.join()

    lags: dict[str, list[float]] = {n: [] for n in names}
    missing = dict.fromkeys(names, 0)
    for done, position in accepted:
        for name in names:
            seen = observed[name].first_reaching(position)
            if seen is None:
                missing[name] += 1
            else:
                lags[name].append(max(0.0, seen - done))
    return LagRun(len(accepted), elapsed, command_latencies, lags, missing, errors[0], late[0])


def _handles_tokens(projection: Projection) -> bool:
    """Whether the read model applies `ApiToken.Issued`: the others move their position past
    it only lazily (`workers.projector.IDLE_STEP_S`), so their "lag" would measure that."""
    issued = get_topic(ApiToken.Issued)
    if projection.topics:
        return issued in projection.topics
    return issued not in projection.skipped_topics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="commands per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs; medians shown")
    parser.add_argument("--workers", type=int, default=8, help="threads issuing commands")
    parser.add_argument("--poll-ms", type=float, default=1.0, help="observer poll interval")
    parser.add_argument("--quick", action="store_true", help="1 run of 5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 5.0, 1

    runs: list[LagRun] = []
    load_before = os.getloadavg()[0]
    with bench_container(projectors=True) as container:
        owner = seed_owner(container)
        for repeat in range(args.repeats):
            run = run_once(
                container,
                owner.slug,
                owner.user_id,
                args.rate,
                args.seconds,
                args.workers,
                args.poll_ms / 1000,
            )
            runs.append(run)
            d = run.lags["directory"]
            log(
                f"run {repeat + 1}/{args.repeats}: {run.sent / run.seconds:.0f} cmd/s,"
                f" directory lag p50 {ms(percentile(d, 50))} p99 {ms(percentile(d, 99))} ms,"
                f" late starts {run.late_starts}, errors {run.errors}"
            )

    load_after = os.getloadavg()[0]
    names = list(runs[0].lags)
    print(
        f"\nEnd-to-end lag, embedded log projectors: {args.rate:g} cmd/s target for"
        f" {args.seconds:g} s, median of {args.repeats} run(s); poll every {args.poll_ms:g} ms;"
        f" load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs"
    )
    rows = [
        [
            "command (issue_token)",
            f"{median([r.sent / r.seconds for r in runs]):.0f}",
            ms(median([percentile(r.command_latencies, 50) for r in runs])),
            ms(median([percentile(r.command_latencies, 99) for r in runs])),
            ms(median([max(r.command_latencies, default=float("nan")) for r in runs])),
            sum(r.errors for r in runs),
        ]
    ]
    for name in names:
        rows.append(
            [
                f"lag → {name}",
                "",
                ms(median([percentile(r.lags[name], 50) for r in runs])),
                ms(median([percentile(r.lags[name], 99) for r in runs])),
                ms(median([max(r.lags[name], default=float("nan")) for r in runs])),
                sum(r.missing[name] for r in runs),
            ]
        )
    print_table(["what", "cmd/s", "p50 ms", "p99 ms", "max ms", "errors/missing"], rows)


if __name__ == "__main__":
    main()
