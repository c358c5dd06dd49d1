"""The remote runtime: an instance is an attachment to a streamable-HTTP MCP endpoint that
runs elsewhere. Nothing is started; the URL is checked against SSRF rules on every start
(and by the health checker on every connection), and a small file per instance lets a
restarted deployer find its attachments again.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, ClassVar

from infra.mcp.ssrf import BlockedAddressError, checked_address
from infra.runtimes.base import InstanceSpec, LogLine, Observed, RuntimeStartError


class RemoteRuntime:
    kind: ClassVar[str] = "remote"

    def __init__(self, home: Path, allowed_hosts: list[str]) -> None:
        self.root = home / "remote"
        self.allowed_hosts = allowed_hosts
        self._known: dict[str, tuple[int, dict[str, Any]]] = {}

    def start(self, spec: InstanceSpec) -> Observed:
        url = spec.runtime["url"]
        try:
            checked_address(url, self.allowed_hosts)
        except BlockedAddressError as error:
            raise RuntimeStartError(str(error)) from None
        doc = {"labels": spec.labels(), "url": url, "started_at": time.time()}
        self._write(spec.instance_id, doc)
        return Observed.from_labels(doc["labels"], ref=url, endpoint=url, running=True)

    def observe(self) -> list[Observed]:
        try:
            names = [e.name for e in os.scandir(self.root) if e.name.endswith(".json")]
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            doc = self._read(name.removesuffix(".json"))
            if doc is not None:
                stopped = doc.get("stopped", False)
                found.append(
                    Observed.from_labels(
                        doc["labels"],
                        ref=doc["url"],
                        endpoint=doc["url"],
                        running=not stopped,
                        reason="stopped" if stopped else "",
                    )
                )
        return found

    def stop(self, instance_id: str) -> None:
        doc = self._read(instance_id)
        if doc is not None and not doc.get("stopped"):
            self._write(instance_id, {**doc, "stopped": True})

    def remove(self, instance_id: str) -> None:
        (self.root / f"{instance_id}.json").unlink(missing_ok=True)
        self._known.pop(instance_id, None)

    def close(self) -> None:
        """Nothing to end: an attached endpoint is not ours to run."""

    def read_logs(self, instance_id: str, offset: int) -> tuple[list[LogLine], int]:
        """A remote endpoint's output is not ours to see."""
        return [], offset

    def _write(self, instance_id: str, doc: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{instance_id}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(doc))
        temporary.replace(path)

    def _read(self, instance_id: str) -> dict[str, Any] | None:
        path = self.root / f"{instance_id}.json"
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        known = self._known.get(instance_id)
        if known is None or known[0] != mtime:
            try:
                known = self._known[instance_id] = (mtime, json.loads(path.read_text()))
            except (OSError, ValueError):
                return None
        return known[1]
