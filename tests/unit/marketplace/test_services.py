"""A service's lifecycle: draft, versions, publish, deprecate, unpublish, feature; who may."""

from __future__ import annotations

import pytest

from domain.marketplace.application import Marketplace
from domain.marketplace.errors import (
    InvalidServiceError,
    ServiceNameTakenError,
    ServiceNotFoundError,
    ServicePermissionError,
    ServiceStateError,
    VersionNotFoundError,
    VersionNotIncreasingError,
    VersionYankedError,
)
from domain.marketplace.services import McpService
from domain.marketplace.values import ServiceStatus
from tests.unit.marketplace.gwt import (
    ADMIN,
    MEMBER,
    OWNER,
    PLATFORM,
    PUBLISHER,
    STRANGER,
    TIME_TOOLS,
    details,
    new_marketplace,
    published,
    release,
)


@pytest.fixture
def app() -> Marketplace:
    return new_marketplace()


def events_of(app: Marketplace) -> list[str]:
    return [type(app.mapper.to_domain_event(n)).__qualname__
            for n in app.recorder.select_notifications(1, 1000)]  # fmt: skip


def test_a_draft_records_canonical_details(app: Marketplace) -> None:
    app.draft("time", PUBLISHER, "acme", ADMIN, details(tags=["Time", "time", "时间"]))
    service = app.service("time")
    assert service.status is ServiceStatus.DRAFT
    assert service.details["tags"] == ["time", "时间"]
    assert service.details["pricing"] == {"model": "FREE", "currency": "USD"}
    assert events_of(app) == ["McpService.Drafted"]


def test_names_are_unique_across_the_marketplace(app: Marketplace) -> None:
    app.draft("time", PUBLISHER, "acme", OWNER, details())
    with pytest.raises(ServiceNameTakenError):
        app.draft("time", PUBLISHER, "other", OWNER, details())


@pytest.mark.parametrize("acting", [MEMBER, STRANGER])
def test_only_owners_and_admins_draft(app: Marketplace, acting: object) -> None:
    with pytest.raises(ServicePermissionError):
        app.draft("time", PUBLISHER, "acme", acting, details())  # type: ignore[arg-type]
    assert events_of(app) == []


def test_bad_input_records_nothing(app: Marketplace) -> None:
    with pytest.raises(InvalidServiceError):
        app.draft("time", PUBLISHER, "acme", OWNER, details(icon_url="ftp://x"))
    app.draft("time", PUBLISHER, "acme", OWNER, details())
    with pytest.raises(InvalidServiceError):
        app.release("time", OWNER, "1.0.0", release(config_schema={"type": 3}))
    with pytest.raises(InvalidServiceError):
        app.release("time", OWNER, "v1", release())
    assert events_of(app) == ["McpService.Drafted"]


def test_versions_strictly_increase_by_semver_precedence(app: Marketplace) -> None:
    app.draft("time", PUBLISHER, "acme", OWNER, details())
    app.release("time", OWNER, "1.0.0-rc.1", release())
    app.release("time", OWNER, "1.0.0", release())
    app.release("time", OWNER, "1.10.0", release())
    for stale in ("1.9.0", "1.10.0", "1.10.0-beta"):
        with pytest.raises(VersionNotIncreasingError):
            app.release("time", OWNER, stale, release())
    assert app.service("time").latest_version == "1.10.0"


def test_yanked_versions_are_skipped_but_still_block_reuse(app: Marketplace) -> None:
    published(app)
    app.release("time", OWNER, "1.1.0", release())
    app.yank("time", OWNER, "1.1.0", "broken tool schema")
    service = app.service("time")
    assert service.latest_version == "1.0.0"
    with pytest.raises(VersionYankedError):
        app.yank("time", OWNER, "1.1.0", "again")
    with pytest.raises(VersionNotIncreasingError):
        app.release("time", OWNER, "1.1.0", release())
    with pytest.raises(VersionNotFoundError):
        app.yank("time", OWNER, "9.9.9", "")


def test_the_last_live_version_of_a_listed_service_cannot_be_yanked(app: Marketplace) -> None:
    published(app)
    with pytest.raises(ServiceStateError):
        app.yank("time", OWNER, "1.0.0", "oops")


def test_publishing_needs_a_version_and_is_idempotent(app: Marketplace) -> None:
    app.draft("time", PUBLISHER, "acme", OWNER, details())
    with pytest.raises(ServiceStateError):
        app.publish("time", OWNER)
    app.release("time", OWNER, "1.0.0", release())
    first = app.publish("time", OWNER)
    again = app.publish("time", OWNER)
    assert again.version == first.version
    assert events_of(app).count("McpService.Published") == 1


def test_deprecate_with_a_listed_successor_then_unpublish(app: Marketplace) -> None:
    published(app, "time")
    published(app, "time2")
    with pytest.raises(ServiceStateError):
        app.deprecate("time", OWNER, "time", "")
    app.deprecate("time", OWNER, "time2", "use time2")
    service = app.service("time")
    assert (service.status, service.successor) == (ServiceStatus.DEPRECATED, "time2")
    app.unpublish("time", OWNER, "retired")
    assert app.service("time").status is ServiceStatus.DRAFT


def test_a_draft_successor_is_refused(app: Marketplace) -> None:
    published(app, "time")
    app.draft("hidden", PUBLISHER, "acme", OWNER, details())
    with pytest.raises(ServiceStateError):
        app.deprecate("time", OWNER, "hidden", "")


def test_drafts_do_not_exist_for_strangers(app: Marketplace) -> None:
    app.draft("time", PUBLISHER, "acme", OWNER, details())
    with pytest.raises(ServiceNotFoundError):
        app.update("time", STRANGER, {"display_name": "Mine"})
    app.release("time", OWNER, "1.0.0", release())
    app.publish("time", OWNER)
    with pytest.raises(ServicePermissionError):
        app.update("time", STRANGER, {"display_name": "Mine"})
    with pytest.raises(ServicePermissionError):
        app.update("time", MEMBER, {"display_name": "Mine"})


def test_updates_record_only_real_changes(app: Marketplace) -> None:
    published(app)
    app.update("time", ADMIN, {"display_name": "Time", "tags": ["clock"]})
    changes = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 99)]
    updated = [e for e in changes if isinstance(e, McpService.DetailsUpdated)]
    assert [e.changes for e in updated] == [{"tags": ["clock"]}]
    with pytest.raises(InvalidServiceError) as caught:
        app.update("time", ADMIN, {"pricing": {"model": "PAID", "price_per_request": "0.12345"}})
    assert caught.value.field == "pricing.price_per_request"


def test_only_platform_admins_feature_listed_services(app: Marketplace) -> None:
    app.draft("time", PUBLISHER, "acme", OWNER, details())
    with pytest.raises(ServicePermissionError):
        app.feature("time", OWNER, True)
    with pytest.raises(ServiceStateError):
        app.feature("time", PLATFORM, True)
    app.release("time", OWNER, "1.0.0", release())
    app.publish("time", OWNER)
    app.feature("time", PLATFORM, True)
    assert app.service("time").featured
    app.unpublish("time", OWNER, "")
    assert not app.service("time").featured


def test_introspection_fills_the_tools_once(app: Marketplace) -> None:
    published(app)
    discovered = [*TIME_TOOLS, {"name": "convert_time", "description": "Convert"}]
    app.record_introspection("time", "1.0.0", discovered, {"name": "mcp-time"})
    app.record_introspection("time", "1.0.0", discovered, {"name": "mcp-time"})
    tools = app.service("time").release_of("1.0.0")["tools"]
    assert [t["name"] for t in tools] == ["get_current_time", "convert_time"]
    assert events_of(app).count("McpService.ToolsIntrospected") == 1
