"""The deployments pages in Chromium against the real API on PostgreSQL, without a deployer:
the list follows the status stream, and a deployment's configuration is edited in its dialog
(frontend/tests/e2e/deployments/live-status.e2e.ts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.web_support import ARTIFACTS, ROOT, build_web, run_node, served_api

CHROMIUM = Path("/usr/bin/chromium")
SPEC = "tests/e2e/deployments/live-status.e2e.ts"


@pytest.fixture
def web_app(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    build_web()  # before the app is created: it serves frontend/dist only if it exists
    with served_api(database_url, tmp_path) as served:
        yield served


@pytest.mark.timeout(600)
def test_live_status_and_config_edit(web_app: tuple[str, Path]) -> None:
    assert CHROMIUM.exists(), "Chromium is missing: run infra/local/install.sh"
    base_url, mail_dir = web_app
    result = run_node(
        ["npx", "vitest", "run", "--config", "vitest.e2e.config.ts", SPEC],
        cwd=ROOT / "frontend",
        base_url=base_url,
        mail_dir=mail_dir,
        timeout=500,
    )
    (ARTIFACTS / "web-e2e-deployments.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-4000:]
