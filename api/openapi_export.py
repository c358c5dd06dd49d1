"""The OpenAPI document of the app, built without a database or any other service.

The TypeScript SDK's types are generated from this document, and `./run test` regenerates
them to catch drift. Usage: `python -m api.openapi_export [PATH]` (stdout without PATH).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

from api.app import create_app
from infra.container import Container


class _NoContainer:
    """Stands in for the container: routes only reach it while serving a request."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the OpenAPI export has no services (asked for {name!r})")


def openapi_document() -> dict[str, Any]:
    """The same document the running app serves at `/openapi.json`."""
    return create_app(cast(Container, _NoContainer())).openapi()


def render(document: dict[str, Any]) -> str:
    """Stable text for a committed file: two-space indent, UTF-8, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(openapi_document())
    if not argv:
        sys.stdout.write(text)
        return 0
    Path(argv[0]).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
