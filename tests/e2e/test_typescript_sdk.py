"""The TypeScript SDK's own tests (sdk/typescript/tests), one file per resource, on a live API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.web_support import ROOT, build_web, run_node, served_api
from tests.integration.deployer_support import package_store


@pytest.mark.timeout(600)
def test_typescript_sdk_against_the_live_api(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    build_web()  # installs the SDK's dependencies too
    # With the deployer and usage sinks: client.deployments and client.mcp run `time`.
    with served_api(database_url, tmp_path, package_store(request)) as (base_url, mail_dir):
        result = run_node(
            ["npx", "vitest", "run"],
            cwd=ROOT / "sdk" / "typescript",
            base_url=base_url,
            mail_dir=mail_dir,
            timeout=540,
        )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-4000:]
    assert "skipped" not in result.stdout.split("Tests")[-1], "live tests did not run"
