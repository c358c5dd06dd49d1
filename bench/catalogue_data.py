"""A generated marketplace for the catalogue benchmark: services, their events, and queries.

Services read like real MCP listings: a publisher, a product or domain ("github", "weather",
"postgres") and a role ("connector", "tools"), an English or (one in six) Chinese display
name and description, 2 to 5 tags, a category, a price and a runtime. One in five has 1 to 5
reviews. Each service is recorded as the events the `Marketplace` would record (Drafted,
VersionReleased, Published, and Review.Posted), mapped by the app's own mapper and written
with the recorder's `insert_events`, a batch at a time.

Queries are "text search with filters": a product word, two words, a prefix, a typo or a
Chinese word, with one filter (category, pricing model, runtime kind or a tag).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid5

from domain.marketplace.reviews import Review
from domain.marketplace.services import McpService
from domain.marketplace.values import Category
from infra.container import Container


def _words(text: str) -> list[str]:
    return text.split()


PRODUCTS = _words(
    "github gitlab bitbucket slack discord teams zoom notion confluence jira linear trello asana "
    "postgres mysql sqlite redis mongodb elasticsearch clickhouse snowflake bigquery s3 dropbox "
    "drive onedrive gmail outlook calendar contacts stripe shopify paypal quickbooks xero "
    "weather maps geocoding translate wikipedia arxiv pubmed youtube reddit hackernews news "
    "stocks crypto forex kubernetes docker terraform ansible aws azure gcp cloudflare vercel "
    "sentry datadog grafana prometheus pagerduty figma canva airtable hubspot salesforce "
    "zendesk intercom twilio sendgrid openai huggingface pinecone qdrant browser fetch "
    "filesystem git time memory pdf excel csv ocr speech vision scraper crawler dns ssl vault"
)
ROLES = _words("connector tools server bridge assistant toolkit gateway sync helper api agent")
FEATURES = [
    "search",
    "pagination",
    "webhooks",
    "OAuth sign-in",
    "rate limiting",
    "caching",
    "streaming results",
    "bulk export",
    "fine-grained permissions",
    "audit logs",
    "retries",
    "schema discovery",
]
VERBS = ["Read, query and update", "Search and summarise", "Create and manage", "Monitor"]
CHINESE = {
    "weather": "天气",
    "maps": "地图",
    "translate": "翻译",
    "stocks": "股票",
    "news": "新闻",
    "postgres": "数据库",
    "mysql": "数据库",
    "filesystem": "文件",
    "calendar": "日历",
    "gmail": "邮件",
    "ocr": "文字识别",
    "speech": "语音",
    "crypto": "加密货币",
    "browser": "浏览器",
}
CHINESE_ROLES = ["助手", "连接器", "工具", "服务", "网关"]
CHINESE_FEATURES = ["实时查询", "批量导出", "权限管理", "缓存", "分页", "自动重试", "数据同步"]
GENERIC_TAGS = _words("api saas database cloud ai devops productivity chat analytics storage")
_CATEGORIES = {
    "developer-tools": "github gitlab bitbucket git docker sentry figma",
    "data": "postgres mysql sqlite redis mongodb clickhouse snowflake csv",
    "search": "elasticsearch wikipedia arxiv pubmed hackernews",
    "web": "fetch browser scraper crawler youtube reddit",
    "files": "s3 dropbox drive onedrive filesystem pdf excel",
    "productivity": "notion jira linear trello asana calendar time",
    "communication": "slack discord teams zoom gmail outlook twilio sendgrid",
    "ai": "openai huggingface pinecone qdrant memory ocr speech vision",
    "finance": "stripe shopify paypal quickbooks xero stocks crypto forex",
    "devops": "kubernetes terraform ansible aws azure gcp grafana",
    "security": "vault ssl dns cloudflare",
}
CATEGORY_OF = {product: c for c, products in _CATEGORIES.items() for product in _words(products)}
RUNTIMES: list[dict[str, Any]] = [
    {"kind": "docker", "transport": "stdio", "image": "mcp/server:1.0", "args": [], "env": {}},
    {"kind": "process", "transport": "stdio", "command": "mcp-server", "args": [], "env": {}},
    {"kind": "remote", "transport": "streamable-http", "url": "https://mcp.example.com/mcp"},
]


@dataclass
class ServiceSpec:
    name: str
    publisher: tuple[UUID, str]
    details: dict[str, Any]
    runtime: dict[str, Any]
    ratings: list[int] = field(default_factory=list)


def generate(count: int, seed: int = 7) -> Iterator[ServiceSpec]:
    rnd = random.Random(seed)
    publishers = [(uuid5(UUID(int=seed), f"p{i}"), f"publisher-{i}") for i in range(2000)]
    seen: set[str] = set()
    for i in range(count):
        product, role = rnd.choice(PRODUCTS), rnd.choice(ROLES)
        publisher = rnd.choice(publishers)
        name = f"{product}-{role}"
        if name in seen:
            name = f"{publisher[1].split('-')[1]}-{product}-{role}-{i}"
        seen.add(name)
        chinese = (product in CHINESE and rnd.random() < 0.5) or rnd.random() < 0.05
        features = rnd.sample(FEATURES, 3)
        if chinese:
            word = CHINESE.get(product, "数据")
            display = f"{word}{rnd.choice(CHINESE_ROLES)}"
            supports = "、".join(rnd.sample(CHINESE_FEATURES, 3))
            # Chinese text is written with full-width punctuation.
            description = f"通过 MCP 访问{word}（{product}），支持{supports}。"  # noqa: RUF001
            description += f" {word}服务适合在智能助手中使用。"
        else:
            display = f"{product.title()} {role.title()}"
            description = (
                f"{rnd.choice(VERBS)} {product} from your AI assistant. "
                f"Supports {features[0]}, {features[1]} and {features[2]}."
            )
            if rnd.random() < 0.3:
                description += f" Works well with {rnd.choice(PRODUCTS)}."
        tags = list(dict.fromkeys([product, *rnd.sample(GENERIC_TAGS, rnd.randint(1, 4))]))
        pricing = rnd.choice(
            [
                {"model": "FREE", "currency": "USD"},
                {"model": "FREE", "currency": "USD"},
                {"model": "PAID", "currency": "USD", "price_per_request": "0.0025"},
                {
                    "model": "FREEMIUM",
                    "currency": "USD",
                    "price_per_request": "0.001",
                    "free_calls_per_month": 1000,
                },
            ]
        )
        details = {
            "display_name": display,
            "description": description,
            "category": CATEGORY_OF.get(product, Category.OTHER.value),
            "tags": tags,
            "icon_url": None,
            "repository_url": f"https://github.com/{publisher[1]}/{name}",
            "documentation_url": None,
            "pricing": pricing,
        }
        ratings = (
            [rnd.choice([3, 4, 4, 5, 5, 5]) for _ in range(rnd.randint(1, 5))]
            if rnd.random() < 0.2
            else []
        )
        yield ServiceSpec(name, publisher, details, rnd.choice(RUNTIMES), ratings)


def events_of(spec: ServiceSpec) -> list[Any]:
    """What the `Marketplace` records for a published (and maybe reviewed) service."""
    service = McpService(
        name=spec.name,
        publisher_id=spec.publisher[0],
        publisher_slug=spec.publisher[1],
        **spec.details,
    )
    service.release("1.0.0", "First release.", spec.runtime, {}, [])
    service.publish()
    events = list(service.collect_events())
    for n, rating in enumerate(spec.ratings):
        user = uuid5(service.id, str(n))
        review = Review(
            service_id=service.id,
            user_id=user,
            service_name=spec.name,
            username=f"user{n}",
            reviewer_tenant_id=uuid5(user, "tenant"),
            rating=rating,
            comment="Works well." if rating > 3 else "Fine.",
        )
        events.extend(review.collect_events())
    return events


def seed(container: Container, specs: Iterator[ServiceSpec], batch: int = 1000) -> int:
    """Record every spec's events with the recorder's own insert path; returns events written."""
    mapper, recorder = container.events.mapper, container.events.recorder
    pending: list[Any] = []
    written = 0
    for spec in specs:
        pending.extend(mapper.to_stored_event(e) for e in events_of(spec))
        if len(pending) >= batch:
            recorder.insert_events(pending)
            written, pending = written + len(pending), []
    if pending:
        recorder.insert_events(pending)
        written += len(pending)
    return written


def queries(count: int, seed: int = 11) -> list[dict[str, str]]:
    """Text searches with one filter each, as query parameters."""
    rnd = random.Random(seed)
    out: list[dict[str, str]] = []
    for _ in range(count):
        product = rnd.choice(PRODUCTS)
        kind = rnd.random()
        if kind < 0.55:
            q = product
        elif kind < 0.65:
            q = f"{product} {rnd.choice(ROLES)}"
        elif kind < 0.75:
            q = product[: max(3, len(product) - 2)]  # a prefix: partial word
        elif kind < 0.85 and len(product) > 4:
            at = rnd.randrange(1, len(product) - 1)
            q = product[:at] + product[at + 1 :]  # a typo: one letter dropped
        else:
            q = rnd.choice(list(CHINESE.values()))
        params = {"q": q}
        which = rnd.randrange(4)
        if which == 0:
            params["category"] = rnd.choice([c.value for c in Category])
        elif which == 1:
            params["pricing"] = rnd.choice(["FREE", "PAID", "FREEMIUM"])
        elif which == 2:
            params["runtime"] = rnd.choice(["docker", "process", "remote"])
        else:
            params["tags"] = rnd.choice(GENERIC_TAGS)
        out.append(params)
    return out


def popular(distinct: list[dict[str, str]], count: int, seed: int = 13) -> list[dict[str, str]]:
    """`count` searches drawn from `distinct` with Zipf weights (the k-th most popular is
    asked 1/k as often as the first), as search traffic is: a few very common, a long tail."""
    rnd = random.Random(seed)
    weights = [1 / (k + 1) for k in range(len(distinct))]
    return rnd.choices(distinct, weights=weights, k=count)
