"""Usage analytics over many calls: the raw table (FINAL) against the minute and hour rollups.

1. Generate `--calls` billed calls (default 1,000,000) straight into a fresh chDB `calls` table
   (INSERT ... SELECT FROM numbers: the sink's path is measured by its own tests, not here):
   `--busy` of them (default 80 %) for one busy tenant, the rest for 20 others, over the 30
   days before a fixed end. A deployment serves one service, each service has four tools, a
   tenant has five tokens and signed-in sessions, 92 % of calls end ok; durations log-normal.
2. Fill the rollups from them (`usage_rollups.rebuild`), timed; then time the sink's
   per-batch roll-up (`roll_up`) for `--batch` new calls of the last minutes.
3. For the busy tenant, time what one dashboard request runs (`analytics` + `summary` +
   `top_tools`, as `api/routes/analytics.py` does) for the route's default view (last 24 h by
   hour), 24 h by minute, 30 days by day, per metric, grouped and not: raw (`*_from_raw`) vs
   rollups, p50 over `--repeats` runs, alternating, and the ratio in the same run.
4. How close the latency percentiles are: rollups against raw, per bucket.

    python -m bench.usage_rollups [--calls 1000000] [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import clickhouse_connect

from bench.common import log, median, print_table
from projections.usage import UsageSink
from projections.usage_queries import (
    Interval,
    Metric,
    analytics,
    analytics_from_raw,
    summary,
    summary_from_raw,
    top_tools,
    top_tools_from_raw,
)
from projections.usage_rollups import (
    CALLS_TABLE,
    HOUR_TABLE,
    MINUTE_TABLE,
    create_rollups,
    rebuild,
    roll_up,
)

DB = "bench_usage"
#: An end that is not on a minute: the default view then has edges read from raw calls.
END = datetime(2026, 3, 31, 17, 42, 19, 500_000, tzinfo=UTC)
BUSY = uuid.UUID("00000000-0000-0000-0000-00000000b05e")

_GENERATE = """
INSERT INTO {db:Identifier}.calls
SELECT
    generateUUIDv4(number) AS call_id,
    {offset:UInt64} + number AS position,
    if(is_busy, {tenant:UUID},
       toUUID(concat('00000000-0000-0000-0000-', leftPad(toString(cityHash64(number, 2) % 20),
       12, '0')))) AS tenant_id,
    toUUID(concat('00000000-0000-0000-1111-', leftPad(toString(dep), 12, '0'))) AS deployment_id,
    concat('dep-', toString(dep)) AS deployment,
    toUUID(concat('00000000-0000-0000-2222-', leftPad(toString(dep % 5), 12, '0'))) AS service_id,
    concat('svc-', toString(dep % 5)) AS service,
    '1.0.0' AS version,
    concat('tool-', toString(cityHash64(number, 4) % 4)) AS tool,
    if(tok = 5, NULL, toUUID(concat('00000000-0000-0000-3333-',
       leftPad(toString(if(is_busy, 99, tenant_id_hash) * 10 + tok), 12, '0')))) AS token_id,
    NULL AS instance_id,
    multiIf(st < 92, 'ok', st < 96, 'tool_error', st < 99, 'upstream_error', 'timeout') AS status,
    if(status = 'ok', NULL, concat('call.', status)) AS error_code,
    toUInt64(least(exp(8.5 + 1.1 * randNormal(0, 1)), 30000000)) AS duration_us,
    100 AS request_bytes,
    250 AS response_bytes,
    toDecimal64('0.0025', 4) AS unit_price,
    if(status IN ('ok', 'tool_error'), toDecimal64('0.0025', 4), toDecimal64(0, 4)) AS cost,
    if(dep % 5 = 4, 'EUR', 'USD') AS currency,
    0 AS free,
    {end:DateTime64(6, 'UTC')} - toIntervalMicrosecond(
        cityHash64(number, 6) % {span_us:UInt64}) AS occurred_at
FROM (
    SELECT number, cityHash64(number, 3) % 10 AS dep, cityHash64(number, 5) % 6 AS tok,
        cityHash64(number, 2) % 20 AS tenant_id_hash, cityHash64(number, 7) % 100 AS st,
        cityHash64(number, 1) % 100 < {busy:UInt8} AS is_busy
    FROM numbers({n:UInt64})
)
"""


def generate(client: Any, n: int, busy: int, span: timedelta, end: datetime, offset: int) -> None:
    client.command(
        _GENERATE,
        parameters={
            "db": DB,
            "n": n,
            "busy": busy,
            "tenant": BUSY,
            "end": end,
            "span_us": int(span.total_seconds() * 1e6),
            "offset": offset,
        },
    )


def count(client: Any, table: str, final: bool = True) -> int:
    sql = f"SELECT count() FROM {{db:Identifier}}.{table}{' FINAL' if final else ''}"
    return int(client.query(sql, parameters={"db": DB}).result_rows[0][0])


def dashboard(client: Any, rollups: bool, view: dict[str, Any]) -> Callable[[], Any]:
    """One dashboard request's queries, as the analytics route runs them."""
    series, total, tools = (
        (analytics, summary, top_tools)
        if rollups
        else (analytics_from_raw, summary_from_raw, top_tools_from_raw)
    )
    scope = {"tenant_id": BUSY, "start": view["start"], "end": view["end"]}

    def run() -> Any:
        return (
            series(
                client,
                DB,
                metric=view["metric"],
                interval=view["interval"],
                group_by=view["group_by"],
                **scope,
            ),
            total(client, DB, metric=view["metric"], **scope),
            tools(client, DB, **scope),
        )

    return run


def time_once(run: Callable[[], Any]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def views(quick: bool) -> list[dict[str, Any]]:
    day, month = END - timedelta(hours=24), END - timedelta(days=30)
    shapes: list[tuple[str, datetime, Interval]] = [
        ("24 h by hour", day, "hour"),
        ("24 h by minute", day, "minute"),
        ("30 d by day", month, "day"),
    ]
    metrics: list[Metric] = (
        ["calls", "latency"] if quick else ["calls", "latency", "errors", "cost"]
    )
    out = []
    for name, start, interval in shapes:
        for metric in metrics:
            for group_by in (None, "tool"):
                out.append(
                    dict(
                        name=name,
                        start=start,
                        end=END,
                        interval=interval,
                        metric=metric,
                        group_by=group_by,
                    )
                )
    return out


def latency_gap(client: Any, interval: Interval, start: datetime) -> tuple[int, float, float]:
    """Buckets compared, and the largest and median relative gap of p50/p95/p99 (rollups vs
    raw) over them."""
    args: dict[str, Any] = dict(
        metric="latency", tenant_id=BUSY, start=start, end=END, interval=interval
    )
    raw = {p["t"]: p for p in analytics_from_raw(client, DB, **args)}
    rolled = {p["t"]: p for p in analytics(client, DB, **args)}
    assert raw.keys() == rolled.keys()
    gaps = [
        abs(rolled[t][k] - raw[t][k]) / raw[t][k]
        for t in raw
        for k in ("p50_ms", "p95_ms", "p99_ms")
        if raw[t][k]
    ]
    return len(raw), max(gaps), median(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--busy", type=int, default=80, help="percent of calls of one tenant")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="100k calls, 3 repeats, 2 metrics")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.repeats = 100_000, 3

    with tempfile.TemporaryDirectory(prefix="mcps-bench-usage-") as home:
        client = clickhouse_connect.get_client(interface="chdb", path=os.path.join(home, "chdb"))
        client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        client.command(UsageSink.ddl.format(t=f"{DB}.{CALLS_TABLE}"))
        create_rollups(client, DB)

        log(f"generating {args.calls:,} calls")
        began = time.perf_counter()
        generate(client, args.calls, args.busy, timedelta(days=30), END, 0)
        log(f"  {time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        rebuild(client, DB)
        rebuild_s = time.perf_counter() - began
        client.command(f"OPTIMIZE TABLE {DB}.{CALLS_TABLE} FINAL")

        # The sink's per-batch roll-up: a batch of new calls over the last few minutes.
        batch_end = END + timedelta(minutes=3)
        generate(client, args.batch, args.busy, timedelta(minutes=3), batch_end, args.calls)
        rows = client.query(
            f"SELECT tenant_id, occurred_at FROM {{db:Identifier}}.{CALLS_TABLE}"
            " WHERE position >= {offset:UInt64}",
            parameters={"db": DB, "offset": args.calls},
        ).result_rows
        per_batch = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            roll_up(client, DB, [(tenant, at) for tenant, at in rows])
            per_batch.append(time.perf_counter() - began)

        sizes = {
            t: (count(client, t), count(client, t, final=False))
            for t in (CALLS_TABLE, MINUTE_TABLE, HOUR_TABLE)
        }
        busy_calls = client.query(
            f"SELECT count() FROM {{db:Identifier}}.{CALLS_TABLE} WHERE tenant_id = {{t:UUID}}",
            parameters={"db": DB, "t": BUSY},
        ).result_rows[0][0]
        print(f"\ncalls: {args.calls + args.batch:,}, of the busy tenant: {busy_calls:,}")
        print_table(
            ["table", "rows (FINAL)", "rows stored"],
            [(t, f"{a:,}", f"{b:,}") for t, (a, b) in sizes.items()],
        )
        print(f"\nrebuild of the rollups from {args.calls:,} calls: {rebuild_s:.1f} s")
        took = median(per_batch) * 1000
        print(f"roll-up after a sink batch of {args.batch:,} calls: p50 {took:.0f} ms")

        table = []
        ratios = []
        for view in views(args.quick):
            raw_run, rollup_run = dashboard(client, False, view), dashboard(client, True, view)
            raw_run()  # warm both (and the caches they fill)
            rollup_run()
            raw_s, rollup_s = [], []
            for _ in range(args.repeats):
                raw_s.append(time_once(raw_run))
                rollup_s.append(time_once(rollup_run))
            ratio = median(raw_s) / median(rollup_s)
            ratios.append(ratio)
            table.append(
                (
                    view["name"],
                    view["metric"],
                    view["group_by"] or "-",
                    f"{median(raw_s) * 1000:.0f}",
                    f"{median(rollup_s) * 1000:.0f}",
                    f"{ratio:.1f}x",
                )
            )
        print("\ndashboard request (series + summary + top tools), busy tenant, p50 ms")
        print_table(["view", "metric", "group", "raw", "rollups", "raw/rollups"], table)
        print(f"median ratio {median(ratios):.1f}x, min {min(ratios):.1f}x")

        print("\nlatency percentiles, rollups vs raw (relative gap per bucket, p50/p95/p99)")
        gaps = []
        for name, interval, start in (
            ("24 h by hour", "hour", END - timedelta(hours=24)),
            ("30 d by day", "day", END - timedelta(days=30)),
        ):
            n, worst, typical = latency_gap(client, interval, start)  # type: ignore[arg-type]
            gaps.append((name, n, f"{typical:.2%}", f"{worst:.2%}"))
        print_table(["view", "buckets", "median gap", "max gap"], gaps)
        print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
