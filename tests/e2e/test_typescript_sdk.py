"""The TypeScript SDK's own tests (sdk/typescript/tests), one file per resource, on a live API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.web_support import ROOT, build_web, run_node, served_api


@pytest.mark.timeout(600)
def test_typescript_sdk_against_the_live_api(database_url: str, tmp_path: Path) -> None:
    build_web()  # installs the SDK's dependencies too
    with served_api(database_url, tmp_path) as (base_url, mail_dir):
        result = run_node(
            ["npx", "vitest", "run"],
            cwd=ROOT / "sdk" / "typescript",
            base_url=base_url,
            mail_dir=mail_dir,
            timeout=540,
        )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-4000:]
    assert "skipped" not in result.stdout.split("Tests")[-1], "live tests did not run"
