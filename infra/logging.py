"""Structured logs: one JSON object per line, with the request id when there is one."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from domain.shared.context import request_id_var

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("mcps.access").setLevel(logging.WARNING if level == "INFO" else level)
    # Clients that log every request at INFO: one line per gateway call is a cost, not a record
    # (the access log and the call's `Call.Billed` event already say it).
    for chatty in ("pgserver", "httpx", "httpx2", "httpcore", "mcp.client.streamable_http"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
