"""Plumbing for the tests that run JavaScript (the web app, the TypeScript SDK) on a live API."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import live_server, make_settings, running_container
from workers.catalog import seed_templates
from workers.run_deployer import start_deployer
from workers.run_sink import start_sinks

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


def build_web() -> None:
    """Install the JavaScript dependencies and build the SPA as `./run web` does (a no-op
    when nothing changed), so the API under test serves the current app."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: the web app's tests need Node.js 20+ and npm")
    subprocess.run([str(ROOT / "run"), "web"], cwd=ROOT, check=True, timeout=900)


@contextmanager
def served_api(
    database_url: str, home: Path, packages: Path | None = None
) -> Iterator[tuple[str, Path]]:
    """The real API on real PostgreSQL, writing its mail to files a Node process can read;
    with `packages` (a package store kept between runs) also the rest of `up`: the template
    library, the ClickHouse sinks (usage analytics, call history) and the deployer."""
    if packages is not None:
        (home / "packages").symlink_to(packages)
    settings = make_settings(database_url, home)  # no SMTP host: one .eml file per message
    settings.mail_dir.mkdir(parents=True, exist_ok=True)
    with running_container(settings) as container:
        stop = threading.Event()
        deployer = None
        if packages is not None:
            seed_templates(container.marketplace)
            start_sinks(container, stop)
            deployer = start_deployer(container, stop)  # it stops its instances when told to
        try:
            with live_server(container) as url:
                yield url, settings.mail_dir
        finally:
            stop.set()
            if deployer is not None:
                deployer.join(timeout=30)


def run_node(
    args: list[str], cwd: Path, base_url: str, mail_dir: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MCPS_BASE_URL": base_url,
        "MCPS_MAIL_DIR": str(mail_dir),
        "MCPS_ARTIFACTS_DIR": str(ARTIFACTS),
        "NO_COLOR": "1",
        "CI": "1",
    }
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def summarize_timings(directory: Path = ARTIFACTS) -> str:
    """The `page:*` measures of the browser run as a table: navigation → data on screen."""
    by_route: dict[tuple[str, bool], list[float]] = {}
    for file in sorted(directory.glob("web-timings-*.json")):
        for timing in json.loads(file.read_text()):
            by_route.setdefault((timing["name"], timing["initial"]), []).append(timing["ms"])
    lines = [
        "| route | navigation | n | p50 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for (name, initial), values in sorted(by_route.items()):
        kind = "first page of a visit" if initial else "in-app"
        lines.append(
            f"| {name} | {kind} | {len(values)} | {statistics.median(values):.0f} "
            f"| {max(values):.0f} |"
        )
    return "\n".join(lines)
