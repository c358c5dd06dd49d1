"""Native MCP sessions that any API process accepts: the session id is signed, not stored.

`Mcp-Session-Id` is `<tenant>.<issued>.<nonce>.<mac>`, an HMAC over the rest with the
platform's secret, so a client keeps its session across an API restart and on every replica
behind a load balancer (the "session not found" failure of stateful gateways cannot happen).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from uuid import UUID

#: A session lives this long after `initialize`; clients re-initialise after a 404.
SESSION_TTL_S = 7 * 24 * 3600


class SessionIds:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"mcps-mcp-session|" + secret.encode()).digest()

    def issue(self, tenant_id: UUID) -> str:
        body = f"{tenant_id.hex}.{int(time.time()):x}.{secrets.token_hex(8)}"
        return f"{body}.{self._mac(body)}"

    def valid_for(self, session_id: str, tenant_id: UUID) -> bool:
        body, _, mac = session_id.rpartition(".")
        if not body or not hmac.compare_digest(mac, self._mac(body)):
            return False
        parts = body.split(".")
        if len(parts) != 3 or parts[0] != tenant_id.hex:
            return False
        try:
            issued = int(parts[1], 16)
        except ValueError:
            return False
        return time.time() - issued < SESSION_TTL_S

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]
