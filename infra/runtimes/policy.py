"""What the platform agrees to run, checked when a deployment is requested (a 422 at once)
and again by the deployer before each start (settings or DNS may have changed since).

- A process runtime runs a pinned package's own executable. A bare command runs anything on
  the host, so only commands an operator lists (`MCPS_RUNTIME__COMMANDS`) are allowed.
- A remote runtime's URL must resolve to public addresses, or to a host an operator
  allowlisted (`MCPS_RUNTIME__ALLOWED_HOSTS`): see `infra.mcp.ssrf`.
"""

from __future__ import annotations

from typing import Any

from domain.shared.errors import InvalidInputError
from infra.mcp.ssrf import checked_address
from infra.settings import RuntimeSettings


class NotRunnableError(InvalidInputError):
    code = "runtime.not_allowed"


def check_runnable(runtime: dict[str, Any], settings: RuntimeSettings) -> None:
    """Raises `NotRunnableError` or `BlockedAddressError` (both 422s) with the reason."""
    bare = runtime["kind"] == "process" and not runtime.get("package")
    if bare and runtime["command"] not in settings.commands:
        raise NotRunnableError(
            f"{runtime['command']} is not a package's executable, and the operator has"
            " not allowed it as a command",
            field="service",
        )
    if runtime["kind"] == "remote":
        checked_address(runtime["url"], settings.allowed_hosts)
