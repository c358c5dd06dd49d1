"""The distributed stack's compose file parses and names every process the product runs."""

from __future__ import annotations

from pathlib import Path

import yaml

from projections.registry import all_projections

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_describes_the_distributed_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for infrastructure in ("postgres", "kafka", "redis", "clickhouse"):
        assert infrastructure in services
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["api"]["command"] == ["mcps-server", "api"]
    assert services["relay"]["command"] == ["mcps-server", "relay"]
    for projection in all_projections():
        assert services[f"project-{projection.name}"]["command"][-1] == projection.name
    dockerfile = services["api"]["build"]["dockerfile"]
    assert (ROOT / dockerfile).is_file()
