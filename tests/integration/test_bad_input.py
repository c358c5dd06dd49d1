"""Every endpoint of the OpenAPI document, fed bad input over HTTP: a 4xx problem, never a 5xx.

The cases are generated from the OpenAPI document (collected from the app itself, and checked
against the live `/openapi.json`), so a new endpoint or field is covered without touching this
file: malformed JSON, wrong types, missing and extra fields, oversized strings, bodies over
1 MiB, bad UUIDs in paths, negative and huge numbers in queries, and unicode junk.

Every rejected request must leave the event store as it was (`mcps_events` row count).
The shared server answers within a short read-your-writes timeout, so a `wait_for` that can
never be reached costs a second, not five.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import httpx
import psycopg
import pytest

from api.app import create_app
from infra.container import Container
from tests.support import (
    Api,
    live_server,
    mail_sink,
    make_settings,
    running_container,
    throwaway_database,
)

# The document as the app generates it; `test_cases_cover_the_served_openapi_document` proves
# the live server serves the same operations.
OPENAPI: dict[str, Any] = create_app(cast(Container, None)).openapi()
SCHEMAS: dict[str, Any] = OPENAPI["components"]["schemas"]

TEAM = "bad-input-team"
OWNER = "owner-one"
MAX_BODY = 1_048_576
FIXED_UUID = "6f1c7c1e-4f0e-4a53-9a0e-3e2a3c1d0b7a"
PROBLEM_KEYS = {"type", "title", "status", "code"}

#: Not malicious, just awkward: RTL override, zero-width and BOM, combining marks, astral
#: symbols, a homoglyph and a full-width digit. 3 to 39 characters, so length rules pass.
UNICODE_JUNK = "\u202ejunk\u200b\ufeffe\u0301\U0001f4a9\U0001d54f\u0430\uff11 \u00df"
#: `str.isdigit()` is true for these, `int()` refuses them.
UNICODE_DIGITS = "\u00b9\u00b2\u00b3"
HUGE_NUMBER = "1" + "0" * 30
OVERSIZED = "x" * 10_000


# --- the OpenAPI document ----------------------------------------------------------------------


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of a value, with `anyOf: [X, null]` (an optional field) unwrapped."""
    schema = resolve(schema)
    for option in schema.get("anyOf", []):
        option = resolve(option)
        if option.get("type") != "null":
            return option
    return schema


def nullable(schema: dict[str, Any]) -> bool:
    return any(resolve(o).get("type") == "null" for o in resolve(schema).get("anyOf", []))


def kind(schema: dict[str, Any]) -> str:
    s = non_null(schema)
    if "enum" in s:
        return "enum"
    if s.get("type") == "string":
        return {"date-time": "datetime", "uuid": "uuid", "email": "email"}.get(
            s.get("format", ""), "string"
        )
    return str(s.get("type", "object"))


def example(schema: dict[str, Any]) -> Any:
    """A value the schema accepts, and the domain too where it can (a valid slug and password)."""
    s = non_null(schema)
    k = kind(s)
    if k == "enum":
        return s["enum"][0]
    if k == "email":
        return "someone@example.com"
    if k == "datetime":
        return "2099-01-01T00:00:00Z"
    if k == "uuid":
        return FIXED_UUID
    if k == "string":
        value = "valid-value-1"
        low, high = s.get("minLength", 0), s.get("maxLength", len(value))
        return (value * 4)[: max(low, min(high, len(value)))]
    if k == "integer":
        return max(int(s.get("minimum", 1)), 1)
    if k == "number":
        return 1.5
    if k == "boolean":
        return True
    if k == "array":
        return [example(s.get("items", {}))]
    return {name: example(prop) for name, prop in s.get("properties", {}).items()}


def wrong_type(schema: dict[str, Any]) -> Any:
    return "not-a-list" if kind(schema) == "array" else {"not": ["a", "scalar"]}


def oversized(schema: dict[str, Any]) -> Any:
    k = kind(schema)
    if k == "email":
        return OVERSIZED + "@example.com"
    if k == "array":
        return [OVERSIZED]
    return OVERSIZED


def stringy(schema: dict[str, Any]) -> bool:
    k = kind(schema)
    items = non_null(schema).get("items", {})
    return k in ("string", "email", "enum", "datetime", "uuid") or (
        k == "array" and kind(items) in ("string", "enum")
    )


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    methods = ("get", "post", "put", "patch", "delete")
    return [
        (method.upper(), path, op)
        for path, item in sorted(OPENAPI["paths"].items())
        for method, op in item.items()
        if method in methods
    ]


# --- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    name: str
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    content_type: str | None = "application/json"
    #: Acceptable statuses; None means any 4xx.
    expect: frozenset[int] | None = None
    #: For a 422, the field the problem must name (a prefix: `scopes` matches `scopes.0`).
    field: str | None = None
    #: Unicode junk may be valid input: then a 2xx is fine, a 5xx never.
    may_succeed: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} [{self.name}]"

    def url(self) -> str:
        path = self.path
        for name, value in self.path_params.items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        return path


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def body_schema(op: dict[str, Any]) -> dict[str, Any] | None:
    content = op.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    return resolve(media["schema"]) if media else None


def cases_for(method: str, path: str, op: dict[str, Any]) -> list[Case]:
    params = op.get("parameters", [])
    base_path = {
        p["name"]: (FIXED_UUID if kind(p["schema"]) == "uuid" else TEAM)
        for p in params
        if p["in"] == "path"
    }
    schema = body_schema(op)
    base_body = example(schema) if schema is not None else None
    base_content = _json(base_body) if base_body is not None else None
    out: list[Case] = []

    def case(name: str, **kw: Any) -> None:
        kw.setdefault("path_params", base_path)
        kw.setdefault("content", base_content)
        out.append(Case(method, path, name, **kw))

    # Bodies over the limit are refused before anything else runs, on every endpoint.
    case("body over 1 MiB", content=b"x" * (MAX_BODY + 1), expect=frozenset({413}))

    for p in (p for p in params if p["in"] == "path"):
        n, k = p["name"], kind(p["schema"])
        if k == "uuid":
            for label, value in (("not a uuid", "not-a-uuid"), ("junk uuid", UNICODE_JUNK)):
                case(f"path {n}: {label}", path_params={**base_path, n: value}, field=n)
            case(f"path {n}: uuid too long", path_params={**base_path, n: FIXED_UUID * 3}, field=n)
        else:
            case(f"path {n}: 10k chars", path_params={**base_path, n: OVERSIZED}, field=n)
            case(f"path {n}: unicode junk", path_params={**base_path, n: UNICODE_JUNK})
            case(f"path {n}: traversal", path_params={**base_path, n: "../../etc/passwd"})

    for p in (p for p in params if p["in"] == "query"):
        n, k = p["name"], kind(p["schema"])
        if k == "integer":
            for label, value in (
                ("negative", "-1"),
                ("not a number", "abc"),
                ("a fraction", "1.5"),
                ("unicode digits", UNICODE_DIGITS),
            ):
                case(f"query {n}: {label}", query={n: value}, field=n)
            # A number no log will ever reach must be refused, not waited on until a 503.
            case(f"query {n}: huge", query={n: HUGE_NUMBER})
        elif k == "datetime":
            case(f"query {n}: not a date", query={n: "yesterday"}, field=n)
            case(f"query {n}: unicode junk", query={n: UNICODE_JUNK}, field=n)
        else:
            case(f"query {n}: 10k chars", query={n: OVERSIZED}, field=n)
            for label, value in (
                ("unicode junk", UNICODE_JUNK),
                ("unicode digits", UNICODE_DIGITS),
            ):
                case(f"query {n}: {label}", query={n: value}, may_succeed=True)
            case(f"query {n}: NUL byte", query={n: "a\x00b"}, may_succeed=True)

    if schema is None:
        return out

    assert isinstance(base_body, dict)
    case("malformed JSON", content=b'{"a": ', expect=frozenset({400}))
    case("JSON array, not an object", content=b"[]", field="body")
    case("JSON string, not an object", content=b'"hello"', field="body")
    case("empty body", content=b"")
    case("valid JSON as text/plain", content_type="text/plain")
    case("deeply nested JSON", content=b"[" * 100_000 + b"]" * 100_000)
    case("invalid UTF-8", content=b'{"a": "\xff\xfe"}')
    case(
        "extra field", content=_json({**base_body, "unexpected_field": 1}), field="unexpected_field"
    )
    required = schema.get("required", [])
    if required:
        case("no fields", content=b"{}", field=required[0])
    for name, prop in schema.get("properties", {}).items():
        without = {k: v for k, v in base_body.items() if k != name}
        if name in required:
            case(f"{name}: missing", content=_json(without), field=name)
        if not nullable(prop):
            case(f"{name}: null", content=_json({**base_body, name: None}), field=name)
        case(
            f"{name}: wrong type", content=_json({**base_body, name: wrong_type(prop)}), field=name
        )
        if kind(prop) == "array":
            many = [example(non_null(prop)["items"])] * 1000
            case(f"{name}: 1000 items", content=_json({**base_body, name: many}), field=name)
        if kind(prop) == "datetime":
            for label, value in (("naive datetime", "2099-01-01T00:00:00"), ("not a date", "soon")):
                case(f"{name}: {label}", content=_json({**base_body, name: value}), field=name)
        if stringy(prop):
            case(
                f"{name}: 10k chars",
                content=_json({**base_body, name: oversized(prop)}),
                field=name,
            )
            junk = [UNICODE_JUNK] if kind(prop) == "array" else UNICODE_JUNK
            case(
                f"{name}: unicode junk",
                content=_json({**base_body, name: junk}),
                field=name,
                may_succeed=True,
            )
    return out


def method_not_allowed_cases() -> list[Case]:
    return [
        Case(
            "PUT",
            path,
            "method not allowed",
            path_params=dict.fromkeys(
                [seg[1:-1] for seg in path.split("/") if seg.startswith("{")], TEAM
            ),
            content=None,
            expect=frozenset({405}),
        )
        for path, item in sorted(OPENAPI["paths"].items())
        if "put" not in item
    ]


CASES = [c for m, p, op in operations() for c in cases_for(m, p, op)] + method_not_allowed_cases()


# --- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    http: httpx.Client
    db: psycopg.Connection[Any]
    owner: dict[str, Any]

    def send(self, case: Case) -> httpx.Response:
        headers = dict(self.owner["auth"])
        if case.content_type and case.content is not None:
            headers["content-type"] = case.content_type
        return self.http.request(
            case.method, case.url(), params=case.query, content=case.content, headers=headers
        )

    def event_count(self) -> int:
        row = self.db.execute("SELECT count(*) FROM mcps_events").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with throwaway_database() as url, mail_sink() as mail:
        settings = make_settings(
            url,
            tmp_path_factory.mktemp("bad-input"),
            smtp_port=mail.port,
            wait_for_timeout_seconds=1.0,
        )
        with running_container(settings) as container, live_server(container) as base_url:
            api = Api(base_url, mail)
            # A 500 makes uvicorn drop the connection: never reuse one, so a crash stays one
            # failed case instead of a reset on the next.
            api.http.headers["Connection"] = "close"
            owner = api.register(OWNER)
            r = api.http.post(
                "/api/v1/tenants", json={"slug": TEAM, "name": "Bad Input"}, headers=owner["auth"]
            )
            assert r.status_code == 201, r.text
            with psycopg.connect(url, autocommit=True) as db:
                yield Server(api.http, db, owner)
            api.http.close()


def assert_problem(r: httpx.Response, *, field: str | None = None) -> dict[str, Any]:
    assert r.headers.get("content-type", "").startswith("application/problem+json"), (
        r.status_code,
        r.headers.get("content-type"),
        r.text[:300],
    )
    body = r.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == r.status_code, body
    assert body["type"].endswith(body["code"]), body
    if r.status_code == 422:
        assert body.get("field"), f"a 422 must name the field at fault: {body}"
        if body["code"] == "validation_failed":
            assert isinstance(body.get("errors"), list) and body["errors"], body
        if field is not None:
            assert body["field"] == field or body["field"].startswith(field + "."), (field, body)
    return cast(dict[str, Any], body)


# --- the tests -------------------------------------------------------------------------------


def test_cases_cover_the_served_openapi_document(server: Server) -> None:
    served = server.http.get("/openapi.json")
    assert served.status_code == 200
    live = {
        (method.upper(), path)
        for path, item in served.json()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    covered = {(c.method, c.path) for c in CASES if c.name != "method not allowed"}
    assert live == covered
    # Every operation documents the problem shape for its errors (inline or by reference).
    shared = served.json()["components"]["responses"]
    for method, path, op in operations():
        for status in ("401", "404", "422"):
            if status in op["responses"]:
                response = op["responses"][status]
                if "$ref" in response:
                    response = shared[response["$ref"].rsplit("/", 1)[-1]]
                media = response["content"]
                assert "application/problem+json" in media, (method, path, status)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_problem_never_a_crash(server: Server, case: Case) -> None:
    before = server.event_count()
    r = server.send(case)
    assert r.status_code < 500, f"{case.id}: {r.status_code} {r.text[:400]}"
    if case.may_succeed and r.status_code < 400:
        return
    assert 400 <= r.status_code < 500, f"{case.id}: {r.status_code} {r.text[:400]}"
    if case.expect is not None:
        assert r.status_code in case.expect, f"{case.id}: {r.status_code} {r.text[:400]}"
    assert_problem(r, field=case.field)
    assert server.event_count() == before, f"{case.id}: a rejected request recorded events"


def test_unknown_paths_are_problems_too(server: Server) -> None:
    for path in ("/api/v1/nope", "/api/v2/tenants", "/" + UNICODE_JUNK):
        r = server.http.get(path, headers=server.owner["auth"])
        assert r.status_code == 404
        assert_problem(r)


def test_header_junk_is_rejected_or_ignored(server: Server) -> None:
    auth = server.owner["auth"]
    before = server.event_count()
    r = server.http.get("/api/v1/me", headers={**auth, "X-Consistent-After": "-5"})
    assert r.status_code == 422
    assert_problem(r, field="x-consistent-after")
    r = server.http.get("/api/v1/me", headers={**auth, "X-Consistent-After": "soon"})
    assert r.status_code == 422
    assert_problem(r)
    # A request id that is too long or not printable is replaced by ours, never echoed.
    for given in ("x" * 65, "a\tb"):
        r = server.http.get("/api/v1/me", headers={**auth, "X-Request-Id": given})
        assert r.status_code == 200
        assert r.headers["X-Request-Id"] != given
    assert server.event_count() == before


def test_a_chunked_body_over_1_mib_is_refused_too(server: Server) -> None:
    """The limit holds without a Content-Length header: no buffering of unbounded bodies."""

    def chunks() -> Iterator[bytes]:
        yield b'{"email": "someone@example.com", "password": "'
        for _ in range(32):
            yield b"x" * 65_536
        yield b'"}'

    before = server.event_count()
    r = server.http.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413, f"{r.status_code} {r.text[:300]}"
    assert_problem(r)
    assert r.json()["code"] == "request.too_large"
    assert server.event_count() == before


def test_every_422_of_a_domain_rule_names_its_field(server: Server) -> None:
    """Not only the schema: rules the domain checks answer with the field at fault as well."""
    auth = server.owner["auth"]
    checks: list[tuple[str, str, dict[str, Any], str]] = [
        (
            "POST",
            "/api/v1/auth/register",
            {"email": "weak@example.com", "username": "weakling", "password": "abcdefghijk"},
            "password",
        ),
        (
            "POST",
            "/api/v1/auth/register",
            {"email": "r@example.com", "username": "admin", "password": "Sup3r-secret!"},
            "username",
        ),
        ("POST", "/api/v1/tenants", {"slug": "Not_A_Slug", "name": "x"}, "slug"),
        ("POST", "/api/v1/tenants", {"slug": "-dash-", "name": "x"}, "slug"),
        (
            "POST",
            f"/api/v1/tenants/{TEAM}/tokens",
            {"name": "t", "scopes": ["mcp:read"], "expires_at": "2001-01-01T00:00:00Z"},
            "expires_at",
        ),
        # A personal tenant has one member: inviting into it is a 422 about the slug.
        ("POST", f"/api/v1/tenants/{OWNER}/invitations", {"email": "x@example.com"}, "slug"),
    ]
    failures = []
    for method, path, body, expected_field in checks:
        before = server.event_count()
        r = server.http.request(method, path, json=body, headers=auth)
        if not 400 <= r.status_code < 500:
            failures.append((method, path, r.status_code, r.text[:200]))
            continue
        problem = assert_problem(r)
        if r.status_code == 422 and problem.get("field") != expected_field:
            failures.append((method, path, "field", problem.get("field"), expected_field))
        assert server.event_count() == before
    assert not failures, failures


def test_nul_bytes_are_refused_before_they_reach_the_read_models(
    api: Api, database_url: str
) -> None:
    """PostgreSQL text cannot hold NUL: accepted once, an event would stall every projector.

    A fresh server of its own, so a poisoned read model cannot spoil the shared one.
    """
    owner = api.register("nul-owner")
    auth = owner["auth"]
    r = api.http.post("/api/v1/tenants", json={"slug": TEAM, "name": "Team"}, headers=auth)
    assert r.status_code == 201, r.text
    accepted, crashed = [], []
    for method, path, op in operations():
        schema = body_schema(op)
        if schema is None:
            continue
        base = example(schema)
        for name, prop in schema.get("properties", {}).items():
            # Passwords are hashed, never stored as text: any character is fine there.
            if kind(prop) not in ("string", "email") or "password" in name:
                continue
            url = path.replace("{slug}", TEAM)
            for p in op.get("parameters", []):
                if p["in"] == "path" and kind(p["schema"]) == "uuid":
                    url = url.replace("{" + p["name"] + "}", FIXED_UUID)
            r = api.http.request(method, url, json={**base, name: "nul\x00byte"}, headers=auth)
            if r.status_code >= 500:
                crashed.append((method, path, name, r.status_code))
            elif r.status_code < 400:
                accepted.append((method, path, name, r.status_code))
            else:
                assert_problem(r)
    with psycopg.connect(database_url) as conn:
        head = conn.execute("SELECT max(notification_id) FROM mcps_events").fetchone()
    assert head is not None
    lagging = api.http.get("/api/v1/me", params={"wait_for": head[0]}, headers=auth)
    assert not crashed, f"NUL bytes crashed: {crashed}"
    assert not accepted, (
        f"NUL bytes were accepted into events: {accepted}; "
        f"read model after them: {lagging.status_code} {lagging.text[:200]}"
    )
    assert lagging.status_code == 200, lagging.text
