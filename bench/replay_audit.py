"""Replay of the audit read model over a large log, against a raw read-and-decode baseline.

1. Seed `--events` `ApiToken.Issued` events (default 1,000,000), timed on its own: real events
   of real aggregates mapped by the app's mapper (`--distinct` of them), their stored form
   reused under fresh originator ids (the state holds neither id nor version), written with
   `recorder.insert_events` `--seed-batch` at a time (the library's own insert path).
2. Baseline: read the whole notification log with `select_notifications` in batches of
   `--batch` and decode every notification with the app's mapper (full domain events),
   nothing else.
3. `workers.replay.replay(events, db, by_name("audit"), batch_size=--batch)`: the production
   replay (audit rows built from the stored JSON, not from rebuilt domain events; COPY into
   the shadow schema, the next batch read while the current one is written).
4. With `--per-event`: the same replay with `PerEventAuditProjection` below, which writes
   its rows through the per-event `apply` path every projection has (one INSERT per event,
   as before the batch path existed); everything else is the production replay. The
   same-run reference for what the batch path gains.

The ratio is replay events/s ÷ baseline events/s: the share of the read-and-decode ceiling
that the replay reaches. `--profile` runs the replay under cProfile and prints the top entries.

    python -m bench.replay_audit [--quick] [--events 1000000] [--repeats 1] [--per-event]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import sys
import time
import uuid
from collections.abc import Sequence

from bench.common import (
    CpuPerEvent,
    bench_container,
    cpu_per_event,
    cpu_sample,
    log,
    median,
    print_table,
    seed_owner,
)
from domain.tenancy.tokens import ApiToken
from infra.container import Container
from projections.audit import AuditProjection
from projections.base import Cursor, Envelope, Projection
from projections.registry import by_name
from workers.replay import replay


class PerEventAuditProjection(AuditProjection):
    """Reference: the audit projection without its batch path, one `apply` per event."""

    def apply_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        Projection.apply_many(self, cur, s, envelopes)

    def load_many(self, cur: Cursor, s: str, envelopes: Sequence[Envelope]) -> None:
        Projection.apply_many(self, cur, s, envelopes)


def seed(container: Container, total: int, batch: int, distinct: int) -> float:
    """Append `total` events; returns the seconds it took."""
    owner = seed_owner(container)
    tenant_id = container.tenancy.tenant_by_slug(owner.slug).id
    mapper, recorder = container.events.mapper, container.events.recorder
    templates = []
    for _ in range(distinct):
        token = ApiToken(
            token_hash=secrets.token_hex(32),
            tenant=tenant_id,
            name="replay",
            scopes=["mcp:read"],
            prefix="mcps_replay",
            expires_at=None,
            created_by=owner.user_id,
        )
        templates.extend(mapper.to_stored_event(e) for e in token.collect_events())
    stored_type = type(templates[0])
    started = time.perf_counter()
    done = 0
    report = time.perf_counter()
    while done < total:
        n = min(batch, total - done)
        recorder.insert_events(
            [
                stored_type(
                    originator_id=uuid.uuid4(),
                    originator_version=1,
                    topic=templates[(done + i) % len(templates)].topic,
                    state=templates[(done + i) % len(templates)].state,
                )
                for i in range(n)
            ]
        )
        done += n
        if time.perf_counter() - report > 10:
            report = time.perf_counter()
            log(f"seeded {done:,} ({done / (report - started):,.0f}/s)")
    return time.perf_counter() - started


def read_and_decode(container: Container, batch: int) -> tuple[int, float]:
    recorder, decode = container.events.recorder, container.events.decode
    started = time.perf_counter()
    position, count = 0, 0
    while True:
        notifications = recorder.select_notifications(
            start=position, limit=batch, inclusive_of_start=False
        )
        if not notifications:
            break
        for notification in notifications:
            decode(notification)
        count += len(notifications)
        position = notifications[-1].id
    return count, time.perf_counter() - started


def print_cpu(base: list[CpuPerEvent], replay: list[CpuPerEvent]) -> None:
    """CPU per event, which the machine's other load does not change, and the rate it allows
    on two otherwise idle cores (`CpuPerEvent.ceiling`)."""
    rows = []
    for name, samples in (("read+decode baseline", base), ("replay audit", replay)):
        cpu = CpuPerEvent(
            median([c.python for c in samples]),
            median([c.postgres for c in samples if c.postgres is not None]),
            None,
        )
        ceiling = cpu.ceiling()
        rows.append([name, f"{cpu.python:.1f}", f"{cpu.postgres:.1f}", f"{ceiling:,.0f}",
                     f"{1_000_000 / ceiling:.0f}"])  # fmt: skip
    print("\nCPU per event (µs, median of rounds) and the ceiling it allows on 2 idle cores")
    print_table(["step", "python", "postgres", "events/s ceiling", "s per 1M"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to seed")
    parser.add_argument("--seed-batch", type=int, default=500, help="events per insert_events")
    parser.add_argument("--distinct", type=int, default=1000, help="distinct event states")
    parser.add_argument("--batch", type=int, default=5000, help="read / replay batch size")
    parser.add_argument("--repeats", type=int, default=1, help="baseline+replay rounds")
    parser.add_argument("--per-event", action="store_true", help="also replay one row at a time")
    parser.add_argument("--profile", action="store_true", help="cProfile the (last) replay")
    parser.add_argument("--quick", action="store_true", help="50,000 events, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.repeats = 50_000, 1

    with bench_container(projectors=False) as container:
        seed_seconds = seed(container, args.events, args.seed_batch, args.distinct)
        head = container.events.head()
        log(f"seeded {args.events:,} events in {seed_seconds:.1f} s; log head {head:,}")
        with container.db.connect_owner(autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE mcps_events")
        base_rates, replay_secs, replay_rates, replayed = [], [], [], 0
        per_event_secs: list[float] = []
        base_cpu: list[CpuPerEvent] = []
        replay_cpu: list[CpuPerEvent] = []
        load_before = os.getloadavg()
        meter = container.db.connect_owner(autocommit=True)
        for repeat in range(args.repeats):
            before = cpu_sample(meter)
            count, seconds = read_and_decode(container, args.batch)
            base_cpu.append(cpu_per_event(before, cpu_sample(meter), count))
            base_rates.append(count / seconds)
            log(f"round {repeat + 1}: read+decode {count:,} in {seconds:.1f} s")
            profiler = cProfile.Profile() if args.profile and repeat == args.repeats - 1 else None
            if profiler:
                profiler.enable()
            before = cpu_sample(meter)
            result = replay(container.events, container.db, by_name("audit"), batch_size=args.batch)
            replay_cpu.append(cpu_per_event(before, cpu_sample(meter), result.events))
            if profiler:
                profiler.disable()
            replayed = result.events
            replay_secs.append(result.seconds)
            replay_rates.append(result.rate)
            log(f"round {repeat + 1}: replay {result.events:,} in {result.seconds:.1f} s")
            if args.per_event:
                reference = replay(
                    container.events,
                    container.db,
                    PerEventAuditProjection(),
                    batch_size=args.batch,
                )
                per_event_secs.append(reference.seconds)
                log(f"round {repeat + 1}: per-event replay in {reference.seconds:.1f} s")
        meter.close()

    base, rate = median(base_rates), median(replay_rates)
    print(
        f"\nAudit replay over {head:,} events (median of {args.repeats} round(s),"
        f" batch {args.batch}); seeding {args.seed_batch}/insert_events"
    )
    rows = [
            ["seed (insert_events)", f"{args.events:,}", f"{seed_seconds:.1f}",
             f"{args.events / seed_seconds:,.0f}", "-"],
            ["read+decode baseline", f"{head:,}", f"{head / base:.1f}", f"{base:,.0f}", "1.00"],
            ["replay audit", f"{replayed:,}", f"{median(replay_secs):.1f}", f"{rate:,.0f}",
             f"{rate / base:.2f}"],
    ]  # fmt: skip
    if per_event_secs:
        w = median(per_event_secs)
        rows.append(["replay, INSERT per event (reference)", f"{replayed:,}", f"{w:.1f}",
                     f"{replayed / w:,.0f}", f"{replayed / w / base:.2f}"])  # fmt: skip
    print_table(["step", "events", "seconds", "events/s", "vs read+decode"], rows)
    load_after = os.getloadavg()
    print(
        f"1,000,000 events at this rate: {1_000_000 / rate:.0f} s (goal ≤ 90 s)."
        f" Load average (1 min) {load_before[0]:.1f} → {load_after[0]:.1f}"
        f" on {os.cpu_count()} CPUs."
    )
    print_cpu(base_cpu, replay_cpu)
    if args.profile and profiler is not None:
        print("\ncProfile of the replay (top 25 by cumulative time):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
