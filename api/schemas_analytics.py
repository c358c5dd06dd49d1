"""Response bodies of usage analytics (`/tenants/{slug}/analytics`, `/services/{name}/analytics`).

One point shape serves every metric: a point carries the fields of its metric only (the
others are absent, not null). Money is a decimal string with four places, per currency.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from projections.usage_queries import GroupBy, Interval, Metric


class AnalyticsPoint(BaseModel):
    t: datetime | None = Field(
        default=None, description="The bucket's start (UTC); absent in the summary"
    )
    calls: int
    p50_ms: float | None = Field(default=None, description="latency: median duration")
    p95_ms: float | None = Field(default=None, description="latency")
    p99_ms: float | None = Field(default=None, description="latency")
    errors: int | None = Field(default=None, description="errors: calls that did not end ok")
    error_rate: float | None = Field(default=None, description="errors: errors / calls")
    tool_errors: int | None = Field(default=None, description="errors: the tool said isError")
    upstream_errors: int | None = Field(
        default=None, description="errors: the server failed or vanished"
    )
    timeouts: int | None = Field(default=None, description="errors")
    free_calls: int | None = Field(default=None, description="cost: within a free quota")
    cost: str | None = Field(
        default=None, description="cost: the sum charged, a decimal string", examples=["1.2500"]
    )
    currency: str | None = Field(default=None, description="cost: ISO 4217 code")


class AnalyticsSeries(BaseModel):
    group: str | None = Field(
        description="The deployment, service, `service/tool` or token id (`session` for "
        "signed-in calls); null without `group_by`"
    )
    points: list[AnalyticsPoint] = Field(
        description="Oldest first; a bucket without calls is absent. For `cost`, one point "
        "per bucket and currency"
    )


class ToolUsage(BaseModel):
    service: str
    tool: str
    calls: int
    errors: int
    error_rate: float
    p95_ms: float | None


class AnalyticsSummary(AnalyticsPoint):
    totals: list[AnalyticsPoint] | None = Field(
        default=None, description="cost: one total per currency"
    )
    top_tools: list[ToolUsage] = Field(description="The most called tools in the range")


class AnalyticsPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    metric: Metric
    interval: Interval
    from_: datetime = Field(alias="from")
    to: datetime
    group_by: GroupBy | None
    series: list[AnalyticsSeries]
    summary: AnalyticsSummary
