"""The admin console in Debian's Chromium against the real API on PostgreSQL
(frontend/tests/e2e/admin): list tenants, suspend one, feature a service, remove a review."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_web_app import CHROMIUM
from tests.e2e.web_support import ARTIFACTS, ROOT, build_web, run_node, served_api


@pytest.mark.timeout(900)
def test_admin_console(database_url: str, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Chromium is missing: run infra/local/install.sh"
    shots = [
        ARTIFACTS / "screenshots" / f"{name}.png"
        for name in ("admin-tenants", "admin-featured", "admin-moderation", "admin-forbidden")
    ]
    for shot in shots:
        shot.unlink(missing_ok=True)
    build_web()  # before the app is created: it serves frontend/dist only if it exists
    # No deployer: the spec's service is a remote one that nobody deploys.
    with served_api(database_url, tmp_path) as (base_url, mail_dir):
        result = run_node(
            [
                "npx",
                "vitest",
                "run",
                "--config",
                "vitest.e2e.config.ts",
                "tests/e2e/admin/",
            ],
            cwd=ROOT / "frontend",
            base_url=base_url,
            mail_dir=mail_dir,
            timeout=800,
        )
    (ARTIFACTS / "web-e2e-admin.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-4000:]
    assert "skipped" not in result.stdout.split("Tests")[-1], "the browser tests did not run"
    for shot in shots:
        assert shot.exists(), shot.name
