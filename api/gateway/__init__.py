"""The gateway: tool calls from REST and native MCP clients to deployed MCP servers, billed."""
