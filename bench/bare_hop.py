"""The least a Python gateway can do: a bare HTTP hop in front of an MCP server.

A raw ASGI app under uvicorn (the server our API runs on) that forwards each POST to one
upstream over a kept-alive aiohttp session and sends back its answer: no token, no limits,
no routing, no billing. `bench.gateway` measures it beside our gateway, against the same
upstream in the same run, to show how much of the gateway's added latency any Python hop
on this machine already costs. `--work-us` makes it spend that much CPU on each call besides
(a spin on the process's CPU clock), as a stand-in for a gateway's own work.

    python -m bench.bare_hop --port 8100 --upstream http://127.0.0.1:9000/mcp [--work-us 500]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import aiohttp
import uvicorn

# Headers an MCP client and server exchange that the hop passes on, either way.
_PASSED = ("content-type", "accept", "mcp-session-id", "mcp-protocol-version")


class BareHop:
    def __init__(self, upstream: str, work_us: int = 0) -> None:
        self.upstream = upstream
        self.work_ns = work_us * 1000
        self._http: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {
            name.decode(): value.decode()
            for name, value in scope["headers"]
            if name.decode() in _PASSED
        }
        assert self._http is not None
        if self.work_ns:
            spin_until = time.process_time_ns() + self.work_ns
            while time.process_time_ns() < spin_until:
                pass
        async with self._http.request(
            scope["method"], self.upstream, data=body, headers=headers
        ) as answer:
            payload = await answer.read()
            passed = [
                (name.lower().encode(), value.encode())
                for name, value in answer.headers.items()
                if name.lower() in _PASSED
            ]
            status = answer.status
        await send({"type": "http.response.start", "status": status, "headers": passed})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                connector = aiohttp.TCPConnector(limit=256)
                self._http = aiohttp.ClientSession(connector=connector)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._http is not None:
                    await self._http.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the MCP server's URL")
    parser.add_argument("--work-us", type=int, default=0, help="CPU to spend on each call")
    args = parser.parse_args()
    uvicorn.run(
        BareHop(args.upstream, args.work_us),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
