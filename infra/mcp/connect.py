"""Where an instance's MCP endpoint is: the bridge of a local instance, or a remote endpoint.

Clients (`infra.mcp.wire`) connect to a remote one at the address the SSRF check approved
(`pinned_url`), so a name that re-resolves to an internal address between checks gets nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    endpoint: str
    #: A remote endpoint: checked against SSRF rules on every connection.
    remote: bool = False
