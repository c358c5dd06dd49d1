"""Request and response bodies of the gateway's REST tool-call API (`/api/v1/mcp`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas import Strict


class ToolCall(Strict):
    method: str = Field(min_length=1, max_length=128, description="The tool's name")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The tool's arguments, checked against its input schema"
    )


class CallError(BaseModel):
    code: str = Field(description="`tool_error`, `gateway.timeout`, `gateway.upstream_failed`, …")
    message: str


class CallResult(BaseModel):
    success: bool
    data: Any = Field(
        description="The MCP `CallToolResult` as JSON (`content`, `structuredContent`), "
        "when the server answered"
    )
    error: CallError | None
    timestamp: str
    request_id: str | None
    duration_ms: float = Field(description="Time spent waiting on the server")
    call_id: str


class BatchCall(ToolCall):
    name: str = Field(min_length=1, max_length=63, description="The deployment to call")


class BatchCalls(Strict):
    calls: list[BatchCall] = Field(min_length=1, max_length=100)


class BatchCallResult(BaseModel):
    name: str
    status: int = Field(description="The HTTP status this call alone would have had")
    result: CallResult | None = None
    problem: dict[str, Any] | None = Field(
        default=None, description="problem+json, when the call was refused before it was sent"
    )


class BatchCallResults(BaseModel):
    results: list[BatchCallResult]


class Method(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]


class CallableServer(BaseModel):
    name: str = Field(description="The deployment's name: call it at /api/v1/mcp/{name}/call")
    service: str
    version: str
    status: str
    description: str
    methods: list[Method]
    tools_source: Literal["live", "declared"] = Field(
        description="`live` when a running instance listed them, else the version's declaration"
    )


class CallableServers(BaseModel):
    servers: list[CallableServer]


class InstanceStatus(BaseModel):
    id: str
    healthy: bool
    outstanding_calls: int
    circuit: Literal["closed", "open"]


class ServerStatus(BaseModel):
    name: str
    service: str
    version: str
    status: str
    healthy_instances: int
    instances: list[InstanceStatus]


TaskStatusName = Literal["pending", "running", "succeeded", "failed"]


class TaskAccepted(BaseModel):
    task_id: str = Field(description="Poll it at `GET /api/v1/tasks/{task_id}` (the Location)")
    status: TaskStatusName = Field(
        description="`running` when the API started it at once, `pending` when it waits for "
        "a worker; a repeated Idempotency-Key answers the first task's status"
    )


class TaskPublic(BaseModel):
    task_id: str
    status: TaskStatusName
    name: str = Field(description="The deployment called")
    method: str = Field(description="The tool called")
    created_at: datetime
    started_at: datetime | None = Field(description="When the latest attempt started")
    finished_at: datetime | None
    attempts: int = Field(description="Starts so far: more than one when a process stopped")
    result: CallResult | None = Field(
        description="Once finished, when the call was sent: the envelope a synchronous call "
        "answers (`success` false for a tool error, an upstream failure or a timeout)"
    )
    problem: dict[str, Any] | None = Field(
        description="Once finished, when the call was refused before it was sent (a rate "
        "limit, a deployment that stopped, …): the problem+json a synchronous call answers"
    )


class TaskSummary(BaseModel):
    """A task in a listing: its status and times, without params or answer (read the task)."""

    task_id: str
    status: TaskStatusName
    name: str = Field(description="The deployment called")
    method: str = Field(description="The tool called")
    attempts: int
    token_id: str | None = Field(description="The API token that asked (none for a session)")
    call_id: str | None = Field(description="The billed call, once it was sent")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TasksPage(BaseModel):
    data: list[TaskSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")
