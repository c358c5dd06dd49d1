"""Command bodies of the marketplace. The domain checks the rules; these check the shapes.

Prices are `Decimal` from a JSON string or number literal, never a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Strict

ServiceName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
VersionText = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Reason = Annotated[str, StringConstraints(max_length=1000)]
Url = Annotated[str, StringConstraints(max_length=2048)]


class Pricing(Strict):
    model: Literal["FREE", "PAID", "FREEMIUM"]
    price_per_request: Decimal | None = Field(
        default=None, description="Per call, at most 4 decimals; send it as a string"
    )
    free_calls_per_month: int | None = Field(default=None, ge=0)
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)] = "USD"


class ServiceDetails(Strict):
    display_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    category: str | None = Field(default=None, max_length=32)
    tags: list[Annotated[str, StringConstraints(max_length=32)]] | None = Field(
        default=None, max_length=12
    )
    icon_url: Url | None = None
    repository_url: Url | None = None
    documentation_url: Url | None = None
    pricing: Pricing | None = None

    def changes(self) -> dict[str, Any]:
        """Only what the client sent; `null` for a URL clears it."""
        return self.model_dump(exclude_unset=True)


class ServiceCreate(ServiceDetails):
    name: ServiceName
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    publisher: str | None = Field(
        default=None,
        max_length=64,
        description="Slug of the publishing tenant; default: the token's tenant, or your own",
    )


class ServiceUpdate(ServiceDetails):
    pass


class Runtime(Strict):
    kind: Literal["docker", "process", "remote"]
    transport: Literal["stdio", "streamable-http"] | None = None
    image: Annotated[str, StringConstraints(max_length=512)] | None = None
    port: int | None = None
    package: dict[str, str] | None = None
    command: Annotated[str, StringConstraints(max_length=200)] | None = None
    args: list[str] | None = Field(default=None, max_length=64)
    env: dict[str, str] | None = None
    url: Url | None = None


class Tool(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class VersionCreate(Strict):
    version: VersionText
    changelog: Annotated[str, StringConstraints(max_length=20_000)] = ""
    runtime: Runtime
    config_schema: dict[str, Any] = Field(default_factory=dict)
    tools: list[Tool] = Field(default_factory=list, max_length=500)

    def release(self) -> dict[str, Any]:
        return {
            "changelog": self.changelog,
            "runtime": self.runtime.model_dump(exclude_none=True),
            "config_schema": self.config_schema,
            "tools": [t.model_dump() for t in self.tools],
        }


class Deprecation(Strict):
    successor: ServiceName | None = None
    reason: Reason = ""


class Unpublishing(Strict):
    reason: Reason = ""


class Yank(Strict):
    reason: Reason = ""


class Featuring(Strict):
    featured: bool = True


class ReviewCreate(Strict):
    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(max_length=5000)] = ""


class ReviewRemoval(Strict):
    reason: Reason = ""


class Introspection(BaseModel):
    version: str
    server: dict[str, Any]
    tools: list[dict[str, Any]]
    position: int
