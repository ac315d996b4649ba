"""The benchmark's baseline: a bare Starlette endpoint serving a prebuilt heartbeat-sized body.

It answers ``GET /api/agent/v1/heartbeat`` with the same bytes every time: no
authentication, no domain, no journal. It runs on the same server stack as the
mock (uvicorn with uvloop and httptools, access log off, lifespan off), so the
ratio mock/bare measures what the mock itself costs per request.

    python bench/bare_heartbeat.py --port 9000 --body-file body.json
    python bench/bare_heartbeat.py --port 9000 --size 1234
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["build_app", "padded_body"]

PATH = "/api/agent/v1/heartbeat"


def padded_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes, shaped like a heartbeat answer."""
    skeleton = {"success": True, "data": {"status": "OK", "pad": ""}}
    empty = len(orjson.dumps(skeleton))
    if size < empty:
        raise ValueError(f"--size must be at least {empty} bytes")
    skeleton["data"] = {"status": "OK", "pad": "x" * (size - empty)}
    body = orjson.dumps(skeleton)
    assert len(body) == size
    return body


def build_app(body: bytes) -> Starlette:
    async def heartbeat(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route(PATH, heartbeat, methods=["GET"])])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--body-file", type=Path, help="serve this file's bytes verbatim")
    source.add_argument("--size", type=int, help="serve a padded JSON object of exactly this many bytes")
    args = parser.parse_args(argv)
    body = args.body_file.read_bytes() if args.body_file is not None else padded_body(args.size)
    uvicorn.run(
        build_app(body),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
