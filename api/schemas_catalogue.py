"""What the catalogue answers: services, versions, reviews, facets and categories.

Field names follow the marketplace issue, which the SDKs and the web app rely on. Money is a
decimal string (`"0.0025"`), never a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from domain.marketplace.specs import RuntimeKind, Transport
from domain.marketplace.values import Category, PricingModel


class PricingPublic(BaseModel):
    model: PricingModel
    price_per_request: Decimal | None = Field(
        default=None, description="Per request, a decimal string with at most 4 places"
    )
    free_calls_per_month: int | None = None
    currency: str


class PublisherPublic(BaseModel):
    slug: str


class RatingPublic(BaseModel):
    average: float | None = Field(description="The plain mean of visible reviews; null if none")
    bayesian: float = Field(
        description="(C·m + sum) / (C + n): the mean pulled towards the catalogue's mean m "
        "with the weight of C = 5 reviews; what sort=rating orders by"
    )
    count: int
    histogram: dict[str, int] = Field(description='Reviews per star, "1" to "5"')


class ServiceSummary(BaseModel):
    """A service as listings show it (`projections.catalogue_queries.SUMMARY` builds it)."""

    name: str
    display_name: str
    description: str
    category: Category
    tags: list[str]
    icon_url: str | None
    repository_url: str | None
    documentation_url: str | None
    pricing: PricingPublic
    status: Literal["draft", "published", "deprecated"]
    featured: bool
    successor: str | None = Field(description="For a deprecated service: the one to use instead")
    publisher: PublisherPublic
    latest_version: str | None = Field(description="The highest version not yanked")
    runtime_kind: RuntimeKind | None = Field(description="The latest version's runtime")
    rating: RatingPublic
    deployment_count: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class ServiceHit(ServiceSummary):
    relevance: float | None = Field(
        description="How well the service matches `q` (higher first); null without a query"
    )


class PackagePublic(BaseModel):
    registry: Literal["pypi", "npm"]
    name: str
    version: str


class RuntimePublic(BaseModel):
    """How to run a version: a docker image, a local process, or a remote URL."""

    kind: RuntimeKind
    transport: Transport
    image: str | None = None
    port: int | None = None
    package: PackagePublic | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    url: str | None = None


class ToolPublic(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]


class VersionPublic(BaseModel):
    version: str
    changelog: str
    runtime: RuntimePublic
    config_schema: dict[str, Any]
    tools: list[ToolPublic]
    yanked: bool
    yank_reason: str | None
    released_at: datetime
    yanked_at: datetime | None


class ServicePublic(ServiceSummary):
    """A service's page: the listing plus its latest version, to read and to deploy."""

    latest_release: VersionPublic | None = Field(
        description="The latest version's changelog, runtime, config schema and tools"
    )


class VersionsPublic(BaseModel):
    data: list[VersionPublic]


class ReviewPublic(BaseModel):
    id: UUID
    username: str
    rating: int
    comment: str
    has_deployed: bool = Field(description="The reviewer's tenant has a deployment of this service")
    posted_at: datetime
    updated_at: datetime


class ReviewsPage(BaseModel):
    data: list[ReviewPublic]
    next_cursor: str | None


class FacetCount(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    """Counts over every service the search matched (not only the page)."""

    category: list[FacetCount]
    pricing: list[FacetCount]
    runtime: list[FacetCount]
    tags: list[FacetCount] = Field(description="The 10 most used tags")


class ServicesPage(BaseModel):
    data: list[ServiceHit]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
    facets: Facets
    total: int = Field(description="How many services matched")


class CategoryCount(BaseModel):
    category: Category
    count: int = Field(description="Listed (published or deprecated) services")


class CategoriesPublic(BaseModel):
    data: list[CategoryCount]
