"""Instances that run in a container, each behind its own bridge process on this machine.

The bridge (`docker_upstream`) creates, attaches to and removes the container, so an instance
is found, stopped and read like any local one (`LocalRuntime`). What only the engine knows is
added here: the container's id as the instance's `ref`, the limits every container gets, and
the sweep. A bridge killed outright cannot remove its container, and a stdio server may outlive
it (a streamable-HTTP one always does); so every `observe()` removes the containers of this
runtime whose instance has no live bridge any more, and `stop()`/`remove()` remove the
instance's own. A killed control plane leaves bridges and containers running; the next one
finds them through the instance folders and the labels.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any, ClassVar

from docker import DockerClient
from docker.errors import DockerException
from requests.exceptions import RequestException

from infra.runtimes.base import Observed
from infra.runtimes.bridge_files import instance_dir
from infra.runtimes.docker_containers import (
    INSTANCE_LABEL,
    ContainerError,
    Limits,
    connect,
    managed,
    remove,
)
from infra.runtimes.local import LocalRuntime

logger = logging.getLogger(__name__)


class DockerRuntime(LocalRuntime):
    kind: ClassVar[str] = "docker"

    def __init__(
        self,
        home: Path,
        python: str = sys.executable,
        *,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(home, python)
        self.limits = dataclasses.asdict(limits or Limits())
        self._client: DockerClient | None = None
        self._engine_down: str | None = None

    def observe(self) -> list[Observed]:
        seen = super().observe()
        containers = self._sweep({o.instance_id for o in seen if o.reason})
        return [
            dataclasses.replace(o, ref=containers[o.instance_id])
            if o.instance_id in containers
            else o
            for o in seen
        ]

    def _cleanup(self, instance_id: str, state: dict[str, Any]) -> None:
        try:
            engine = self._engine()
            for container in managed(engine, self.home):
                if container.labels.get(INSTANCE_LABEL) == instance_id:
                    remove(engine, container.id)
        except (ContainerError, DockerException, RequestException) as error:
            logger.warning("could not remove the container of %s: %s", instance_id, error)

    def _sweep(self, ended: set[str]) -> dict[str, str]:
        """Remove the containers of instances that ended or whose folder is gone; the ids of
        the others. The folder is looked at after the listing: a container is made only by a
        bridge, after its folder, so one that starts meanwhile is never taken for an orphan."""
        kept: dict[str, str] = {}
        try:
            engine = self._engine()
            for container in managed(engine, self.home):
                instance_id = container.labels.get(INSTANCE_LABEL, "")
                if (
                    instance_id
                    and instance_id not in ended
                    and instance_dir(self.home, instance_id).is_dir()
                ):
                    kept[instance_id] = container.id
                else:
                    logger.info("removing container %s of %s", container.id[:12], instance_id)
                    remove(engine, container.id)
        except (ContainerError, DockerException, RequestException) as error:
            # The instances are still reported from their folders; the sweep waits a pass.
            # Said once, not on every pass of the deployer.
            if self._engine_down is None:
                logger.warning("could not list the containers: %s", error)
            self._engine_down, self._client = str(error), None
            return kept
        if self._engine_down is not None:
            logger.info("the container engine answers again")
            self._engine_down = None
        return kept

    def _engine(self) -> DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client
