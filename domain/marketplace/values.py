"""Value rules of the marketplace: names, categories, tags, links, versions and prices."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import semver

from domain.marketplace.errors import InvalidServiceError

NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
TAG_PATTERN = re.compile(r"^[\w][\w.+#-]{0,31}$")
MAX_DISPLAY_NAME = 100
MAX_DESCRIPTION = 20_000
MAX_TAGS = 12
MAX_URL = 2048
MAX_CHANGELOG = 20_000
PRICE_PLACES = 4
MAX_PRICE = Decimal("1000")
CURRENCIES = frozenset({"USD", "EUR", "CNY", "GBP", "JPY"})


class Category(StrEnum):
    DEVELOPER_TOOLS = "developer-tools"
    DATA = "data"
    SEARCH = "search"
    WEB = "web"
    FILES = "files"
    PRODUCTIVITY = "productivity"
    COMMUNICATION = "communication"
    AI = "ai"
    FINANCE = "finance"
    DEVOPS = "devops"
    SECURITY = "security"
    OTHER = "other"


class PricingModel(StrEnum):
    FREE = "FREE"
    PAID = "PAID"
    FREEMIUM = "FREEMIUM"


class ServiceStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    DEPRECATED = "deprecated"

    @property
    def listed(self) -> bool:
        """Visible to everyone in the marketplace (deprecated ones still, with a notice)."""
        return self is not ServiceStatus.DRAFT


def check_name(name: str, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidServiceError(
            "a service name is 1 to 64 lowercase letters, digits and hyphens, "
            "not starting or ending with a hyphen",
            field=field,
        )
    return name


def check_text(value: str, field: str, limit: int, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidServiceError(f"{field} must not be empty", field=field)
    if len(value) > limit:
        raise InvalidServiceError(f"{field} is longer than {limit} characters", field=field)
    return value


def check_category(category: str) -> Category:
    try:
        return Category(category)
    except ValueError:
        allowed = ", ".join(c.value for c in Category)
        raise InvalidServiceError(f"category must be one of: {allowed}", field="category") from None


def check_tags(tags: list[str]) -> list[str]:
    """Lowercased, de-duplicated in order; letters of any script, digits and `.+#-`."""
    clean: list[str] = []
    for i, tag in enumerate(tags):
        tag = tag.strip().lower()
        if not TAG_PATTERN.fullmatch(tag):
            raise InvalidServiceError(
                "a tag is 1 to 32 letters, digits or '.+#-_', starting with a letter or digit",
                field=f"tags.{i}",
            )
        if tag not in clean:
            clean.append(tag)
    if len(clean) > MAX_TAGS:
        raise InvalidServiceError(f"at most {MAX_TAGS} tags", field="tags")
    return clean


def check_url(url: str | None, field: str) -> str | None:
    """An absolute http(s) URL with a host, or nothing."""
    if url is None or url == "":
        return None
    if len(url) > MAX_URL:
        raise InvalidServiceError(f"{field} is longer than {MAX_URL} characters", field=field)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise InvalidServiceError(f"{field} must be an http(s) URL", field=field)
    if any(c.isspace() for c in url):
        raise InvalidServiceError(f"{field} must not contain spaces", field=field)
    return url


def parse_version(version: str, field: str = "version") -> semver.Version:
    try:
        return semver.Version.parse(version)
    except (ValueError, TypeError):
        raise InvalidServiceError(
            "version must be a semantic version such as 1.4.0 or 2.0.0-rc.1", field=field
        ) from None


def check_money(value: Any, field: str) -> Decimal:
    """A non-negative amount with at most four decimals. Floats are refused: 0.1 is not exact."""
    if isinstance(value, (float, bool)):
        raise InvalidServiceError(f"{field} must be a decimal string such as '0.0025'", field=field)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidServiceError(f"{field} must be a decimal number", field=field) from None
    if not amount.is_finite() or amount < 0:
        raise InvalidServiceError(f"{field} must be zero or more", field=field)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PRICE_PLACES:
        raise InvalidServiceError(f"{field} has more than {PRICE_PLACES} decimals", field=field)
    if amount > MAX_PRICE:
        raise InvalidServiceError(f"{field} is more than {MAX_PRICE}", field=field)
    return amount


def check_pricing(pricing: dict[str, Any]) -> dict[str, Any]:
    """The canonical form stored in events: prices as strings, never floats."""
    try:
        model = PricingModel(str(pricing.get("model", "")).upper())
    except ValueError:
        raise InvalidServiceError(
            "pricing.model must be FREE, PAID or FREEMIUM", field="pricing.model"
        ) from None
    currency = str(pricing.get("currency") or "USD").upper()
    if currency not in CURRENCIES:
        allowed = ", ".join(sorted(CURRENCIES))
        raise InvalidServiceError(
            f"pricing.currency must be one of {allowed}", field="pricing.currency"
        )
    canonical: dict[str, Any] = {"model": model.value, "currency": currency}
    price = pricing.get("price_per_request")
    free = pricing.get("free_calls_per_month")
    if model is PricingModel.FREE:
        if price not in (None, "0", 0) or free not in (None, 0):
            raise InvalidServiceError(
                "a FREE service has no price and no free quota", field="pricing.model"
            )
        return canonical
    if price is None:
        raise InvalidServiceError(
            f"a {model.value} service needs a price_per_request",
            field="pricing.price_per_request",
        )
    amount = check_money(price, "pricing.price_per_request")
    if amount == 0:
        raise InvalidServiceError(
            "price_per_request must be more than zero; use FREE for free services",
            field="pricing.price_per_request",
        )
    canonical["price_per_request"] = str(amount)
    if model is PricingModel.FREEMIUM:
        if isinstance(free, bool) or not isinstance(free, int) or not 0 < free <= 100_000_000:
            raise InvalidServiceError(
                "a FREEMIUM service needs free_calls_per_month between 1 and 100000000",
                field="pricing.free_calls_per_month",
            )
        canonical["free_calls_per_month"] = free
    elif free not in (None, 0):
        raise InvalidServiceError(
            "only FREEMIUM services have free calls", field="pricing.free_calls_per_month"
        )
    return canonical
