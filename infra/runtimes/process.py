"""Instances that run as a local process (a PyPI or npm package's executable) behind a bridge."""

from __future__ import annotations

from typing import ClassVar

from infra.runtimes.local import LocalRuntime


class ProcessRuntime(LocalRuntime):
    kind: ClassVar[str] = "process"
