"""Writes the REST API's OpenAPI document to docs/api/openapi.json (a test keeps it current)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hub.api.openapi import build_openapi
from hub.app import api_routes

TARGET = Path(__file__).resolve().parent.parent / "docs" / "api" / "openapi.json"


def render() -> str:
    return json.dumps(build_openapi(api_routes()), indent=2, sort_keys=True) + "\n"


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
