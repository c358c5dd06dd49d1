"""A small real MCP server over streamable HTTP for tests; run with the port as argument."""

from __future__ import annotations

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("weather-test", version="1.0.0")


@server.tool()
def forecast(city: str, days: int = 1) -> str:
    """The forecast for a city (deterministic, for tests)."""
    return f"{city}: sunny for {days} day(s)"


@server.tool()
def alerts(region: str) -> list[str]:
    """Weather alerts for a region."""
    return [f"no alerts in {region}"]


if __name__ == "__main__":
    port = int(sys.argv[1])
    uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")
