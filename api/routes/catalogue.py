"""Browsing the marketplace: search, a service's page, its versions and reviews, categories.

Anyone may read, signed in or not. A signed-in caller also sees the drafts of its tenants
(a session: every tenant the user belongs to; an API token: its own tenant); row-level
security enforces that in the database, so another tenant's draft reads as missing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from api.catalogue_cache import Answer, AnswerCache
from api.deps import ContainerDep, OptionalPrincipalDep, Principal, WaitForDep, await_read_model
from api.errors import PROBLEMS, ProblemError
from api.schemas_catalogue import (
    CategoriesPublic,
    CategoryCount,
    ReviewPublic,
    ReviewsPage,
    ServicePublic,
    ServicesPage,
    VersionPublic,
    VersionsPublic,
)
from api.ttl_cache import TtlCache
from domain.marketplace.errors import ServiceNotFoundError
from domain.marketplace.specs import RuntimeKind
from domain.marketplace.values import Category, PricingModel
from infra.container import Container
from projections.catalogue import trigram_available
from projections.catalogue_queries import (
    InvalidReviewCursorError,
    catalogue_revision,
    category_counts,
    drafting_publishers,
    reviews_of,
    service_detail,
    versions_of,
)
from projections.catalogue_search import (
    PRIOR_MEAN,
    PRIOR_WEIGHT,
    InvalidCursorError,
    SearchParams,
    Sort,
    search,
)
from projections.directory import memberships_of

READ_MODEL = "catalogue"
NO_NUL = r"^[^\x00]*$"

router = APIRouter(prefix="/api/v1", tags=["catalogue"], responses=PROBLEMS)

NamePath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=NO_NUL, description="The service's name")
]
Cursor = Annotated[
    str | None,
    Query(max_length=512, pattern=NO_NUL, description="`next_cursor` of the previous page"),
]

#: Whether the database has pg_trgm, per database URL (the embedded server lacks it).
_trigram: dict[str, bool] = {}
#: Answers kept while the catalogue is unchanged, per database URL (see `api.catalogue_cache`).
_answers: dict[str, AnswerCache] = {}
#: Each caller's tenants with drafts, per database URL (see `drafting_tenants_of`).
_drafting: dict[str, TtlCache[UUID, tuple[UUID, ...]]] = {}


def answers(container: Container) -> AnswerCache:
    url = container.database_url
    if url not in _answers:

        def read_revision() -> int:
            with container.db.scoped() as conn:
                return catalogue_revision(conn)

        # The early answers (`api.catalogue_early`) run on the event loop, where a database
        # read would stall every request of the process: they have it read by this thread.
        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalogue-revision")
        # Answers out of date are computed again by one thread, one at a time, while the
        # last one is still given: a catalogue changing every second would otherwise have
        # every request compute its answer again, more than two cores can (see bench/).
        again = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalogue-answers")
        # On a quiet catalogue a request waits for its answer computed again (a few ms)
        # rather than get the one from before a change: a service just published shows.
        _answers[url] = AnswerCache(
            read_revision, background=reader.submit, recompute_in=again.submit, fresh_wait=0.25
        )
    return _answers[url]


def _has_trigram(container: Container) -> bool:
    url = container.database_url
    if url not in _trigram:
        with container.db.scoped() as conn:
            _trigram[url] = trigram_available(conn)
    return _trigram[url]


def tenants_of(container: Container, principal: Principal | None) -> list[UUID]:
    """Whose drafts the caller may see: a token's tenant, or every tenant of a session's user."""
    if principal is None:
        return []
    if principal.token is not None:
        return [principal.token.tenant_id]
    with container.db.scoped(user_id=principal.user_id) as conn:
        return [m["tenant_id"] for m in memberships_of(conn, principal.user_id)]


def drafting_tenants_of(
    container: Container, principal: Principal | None, *, fresh: bool
) -> list[UUID]:
    """The caller's tenants that have drafts: the only rows a search shows the caller beyond
    what anyone sees. A caller without any (most people) shares anonymous callers' answers.

    Kept `auth.cache_seconds` per caller, so a search reads neither the memberships nor the
    drafts each time; `fresh` (a read after the caller's own write) reads them again.
    """
    if principal is None:
        return []
    kept, key = _drafting_kept(container), _drafting_key(principal)
    read = partial(_drafting_tenants, container, principal)
    return list(kept.refresh(key, read) if fresh else kept.read(key, read))


def kept_drafting_tenants(container: Container, principal: Principal) -> tuple[UUID, ...] | None:
    """What `drafting_tenants_of` keeps for the caller now, without reading (None: nothing)."""
    return _drafting_kept(container).get(_drafting_key(principal))


def _drafting_kept(container: Container) -> TtlCache[UUID, tuple[UUID, ...]]:
    url = container.database_url
    kept = _drafting.get(url)
    if kept is None:
        kept = _drafting[url] = TtlCache(container.settings.auth.cache_seconds)
    return kept


def _drafting_key(principal: Principal) -> UUID:
    return principal.token.token_id if principal.token is not None else principal.user_id


def _drafting_tenants(container: Container, principal: Principal) -> tuple[UUID, ...]:
    tenant_ids = tenants_of(container, principal)
    with container.db.scoped(tenant_ids=tenant_ids) as conn:
        return tuple(drafting_publishers(conn, tenant_ids))


def _bad_cursor(error: ValueError) -> ProblemError:
    return ProblemError(
        422,
        "validation_failed",
        f"cursor: {error}",
        field="cursor",
        errors=[{"field": "cursor", "message": str(error)}],
    )


def answered(request: Request, answer: Answer) -> Response:
    """The answer, or `304 Not Modified` when the client holds it already (its ETag).

    `api.catalogue_early` sends the same status, headers and body without FastAPI.
    """
    if answer.matches(request.headers.get("if-none-match")):
        return Response(status_code=304, headers={"etag": answer.etag})
    return Response(answer.body, media_type="application/json", headers={"etag": answer.etag})


def remember(request: Request, cache: AnswerCache, key: tuple[Any, ...]) -> None:
    """Let `api.catalogue_early` answer this very request (path and query) again, from
    `key`: for anonymous callers, who all see the same answers."""
    cache.alias((request.scope["path"], request.scope["query_string"]), key)


def _tags(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(dict.fromkeys(t.strip().lower() for t in value.split(",") if t.strip()))


@router.get("/services", summary="Search the catalogue", response_model=ServicesPage)
def list_services(
    request: Request,
    principal: OptionalPrincipalDep,
    container: ContainerDep,
    wait_for: WaitForDep,
    q: Annotated[
        str | None,
        Query(max_length=200, pattern=NO_NUL, description="Words, partial words or Chinese text"),
    ] = None,
    category: Category | None = None,
    tags: Annotated[
        str | None,
        Query(max_length=400, pattern=NO_NUL, description="Comma-separated; all must match"),
    ] = None,
    pricing: PricingModel | None = None,
    runtime: RuntimeKind | None = None,
    publisher: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="The publisher's slug")
    ] = None,
    featured: bool | None = None,
    sort: Annotated[
        Sort | None,
        Query(description="Default: relevance with `q`, else rating (Bayesian average)"),
    ] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Full-text and fuzzy search with filters, five sorts, cursor paging and facet counts."""
    await_read_model(container, READ_MODEL, wait_for)
    params = SearchParams(
        q=q,
        category=category.value if category else None,
        tags=_tags(tags),
        pricing=pricing.value if pricing else None,
        runtime=runtime.value if runtime else None,
        publisher=publisher,
        featured=featured,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    tenant_ids = drafting_tenants_of(container, principal, fresh=wait_for is not None)
    cache, key = answers(container), ("services", params, tuple(sorted(tenant_ids)))
    answer = cache.get(key) if wait_for is None else None
    if answer is None:
        # Both may read from the pool: before taking the search's connection, never while
        # holding it (a cold process under load would deadlock the pool).
        revision, trigram = cache.revision(), _has_trigram(container)

        def compute() -> Answer:
            with container.db.scoped(tenant_ids=tenant_ids) as conn:
                result = search(conn, params, tenant_ids, trigram=trigram)
            # The page is JSON the database wrote in `ServiceHit`'s shape (the tests hold it
            # to the model); passing it through instead of parsing, validating and
            # re-encoding it saves most of the Python time a search would otherwise take.
            rest = orjson.dumps(
                {"next_cursor": result.next_cursor, "facets": result.facets, "total": result.total}
            )
            return Answer(b'{"data":' + result.data_json.encode() + b"," + rest[1:])

        try:
            answer = compute()
        except InvalidCursorError as error:
            raise _bad_cursor(error) from None
        cache.put(key, answer, revision, compute)
    if not tenant_ids and wait_for is None:  # an anonymous caller's answer
        remember(request, cache, key)
    return answered(request, answer)


def _visible(conn: Any, name: str) -> dict[str, Any]:
    service = service_detail(conn, name, prior=PRIOR_WEIGHT, prior_mean=PRIOR_MEAN)
    if service is None:
        raise ServiceNotFoundError(f"no service named {name!r}")
    return service


@router.get("/services/{name}", summary="Read a service", response_model=ServicePublic)
def read_service(
    name: NamePath, principal: OptionalPrincipalDep, container: ContainerDep, wait_for: WaitForDep
) -> ServicePublic:
    """The listing, publisher, rating histogram and the latest version to deploy."""
    await_read_model(container, READ_MODEL, wait_for)
    tenant_ids = drafting_tenants_of(container, principal, fresh=wait_for is not None)
    with container.db.scoped(tenant_ids=tenant_ids) as conn:
        return ServicePublic.model_validate(_visible(conn, name))


@router.get(
    "/services/{name}/versions", summary="List a service's versions", response_model=VersionsPublic
)
def list_service_versions(
    name: NamePath, principal: OptionalPrincipalDep, container: ContainerDep, wait_for: WaitForDep
) -> VersionsPublic:
    """Every released version, newest first; yanked ones are flagged, with the reason."""
    await_read_model(container, READ_MODEL, wait_for)
    tenant_ids = drafting_tenants_of(container, principal, fresh=wait_for is not None)
    with container.db.scoped(tenant_ids=tenant_ids) as conn:
        service = _visible(conn, name)
        versions = versions_of(conn, service["id"])
    return VersionsPublic(data=[VersionPublic.model_validate(v) for v in versions])


@router.get(
    "/services/{name}/reviews", summary="List a service's reviews", response_model=ReviewsPage
)
def list_service_reviews(
    name: NamePath,
    principal: OptionalPrincipalDep,
    container: ContainerDep,
    wait_for: WaitForDep,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ReviewsPage:
    """Visible reviews, newest first, each with a "has deployed it" badge."""
    await_read_model(container, READ_MODEL, wait_for)
    try:
        tenant_ids = drafting_tenants_of(container, principal, fresh=wait_for is not None)
        with container.db.scoped(tenant_ids=tenant_ids) as conn:
            service = _visible(conn, name)
            rows, next_cursor = reviews_of(conn, service["id"], cursor=cursor, limit=limit)
    except InvalidReviewCursorError as error:
        raise _bad_cursor(error) from None
    return ReviewsPage(data=[ReviewPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/categories", summary="List the categories", response_model=CategoriesPublic)
def list_categories(request: Request, container: ContainerDep, wait_for: WaitForDep) -> Response:
    """The twelve categories, each with its number of listed services."""
    await_read_model(container, READ_MODEL, wait_for)
    cache, key = answers(container), ("categories",)
    answer = cache.get(key) if wait_for is None else None
    if answer is None:
        revision = cache.revision()

        def compute() -> Answer:
            with container.db.scoped() as conn:
                counts = category_counts(conn)
            page = CategoriesPublic(data=[CategoryCount.model_validate(c) for c in counts])
            return Answer(page.model_dump_json().encode())

        answer = compute()
        cache.put(key, answer, revision, compute)
    if wait_for is None:
        remember(request, cache, key)
    return answered(request, answer)
