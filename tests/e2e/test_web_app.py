"""The web app in Debian's Chromium against the real API on PostgreSQL (frontend/tests/e2e)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.web_support import (
    ARTIFACTS,
    ROOT,
    build_web,
    run_node,
    served_api,
    summarize_timings,
)
from tests.integration.deployer_support import package_store

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def web_app(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Path]]:
    build_web()  # before the app is created: it serves frontend/dist only if it exists
    # With the deployer and usage sinks: the browser deploys `time` and calls it.
    with served_api(database_url, tmp_path, package_store(request)) as served:
        yield served


def test_the_api_serves_the_app_and_keeps_its_own_routes(web_app: tuple[str, Path]) -> None:
    base_url, _ = web_app
    page = {"accept": "text/html,application/xhtml+xml"}
    with httpx.Client(base_url=base_url) as http:
        for path in ("/", "/signin", "/t/acme/audit", "/u/ada/dashboard"):
            r = http.get(path, headers=page)
            assert r.status_code == 200 and '<div id="app">' in r.text, path
            assert r.headers["cache-control"] == "no-cache"
        script = r.text.split('src="')[1].split('"')[0]
        asset = http.get(script)
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "javascript" in asset.headers["content-type"]

        assert http.get("/openapi.json", headers=page).json()["info"]["title"] == "MCPS.ONE"
        assert "swagger" in http.get("/docs", headers=page).text.lower()
        assert http.get("/healthz", headers=page).json() == {"status": "ok"}
        assert http.get("/readyz", headers=page).json()["status"] == "ready"
        assert "mcps_http_requests_total" in http.get("/metrics", headers=page).text
        for path, headers in (
            ("/api/v1/nope", page),  # API paths never fall back to the app
            ("/somewhere", {"accept": "application/json"}),  # API clients get the problem
            ("/assets/missing.js", page),  # a missing bundle is a 404, not index.html
        ):
            r = http.get(path, headers=headers)
            assert r.status_code == 404, path
            assert r.headers["content-type"] == "application/problem+json", path
        r = http.get("/api/v1/me", headers=page)
        assert r.status_code == 401 and r.json()["code"] == "auth.token_invalid"


@pytest.mark.timeout(1200)
def test_browser_flows(web_app: tuple[str, Path]) -> None:
    """Sign-up to audit log, languages, dark theme and a phone screen, with screenshots in
    artifacts/screenshots/ and page timings in artifacts/web-timings.md."""
    assert CHROMIUM.exists(), "Chromium is missing: run infra/local/install.sh"
    base_url, mail_dir = web_app
    for old in [*ARTIFACTS.glob("web-timings-*.json"), ARTIFACTS / "web-failures.txt"]:
        old.unlink(missing_ok=True)
    result = run_node(
        ["npx", "vitest", "run", "--config", "vitest.e2e.config.ts"],
        cwd=ROOT / "frontend",
        base_url=base_url,
        mail_dir=mail_dir,
        timeout=1100,
    )
    # The whole run, for when the tail below is not enough to see what failed first.
    (ARTIFACTS / "web-e2e.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, failure_report(result.stdout, result.stderr)
    table = summarize_timings()
    (ARTIFACTS / "web-timings.md").write_text(
        "Navigation → page data on screen (the app's `page:*` performance measures)\n\n"
        + table
        + "\n"
    )
    print(table)


def failure_report(stdout: str, stderr: str) -> str:
    """What a failed run's reader needs first, within what CI shows of a failure: which tests
    failed, the first failure whole (later ones often follow from it), and what the browsers
    showed at each failure (`frontend/tests/e2e/support/failures.ts`)."""
    marks = ("\u2713", "\u00d7", "\u276f")  # vitest's passed, failed, and a file's line
    tests = [line for line in stdout.splitlines() if line.strip().startswith(marks)]
    first = stdout.find(" FAIL ")
    first_failure = stdout[first:][:4000].split("\u23af[2/")[0] if first >= 0 else ""
    failures = ARTIFACTS / "web-failures.txt"
    seen = failures.read_text()[:6000] if failures.exists() else "(no page was open)"
    report = [*tests, "", "first failure:", first_failure, "", "the browsers then:", seen]
    return "\n".join([*report, stderr[-2000:]])
