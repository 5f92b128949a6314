"""MJPEG viewers for ``bench-web``, in their own process (as browsers would be): N
connections reading the stream at full rate and throwing it away.

``CAT_FOLLOW_WEB_TOKEN=T python -m cat_follow.web.bench_client PORT N SECONDS`` prints
{"bytes", "parts", "errors"}.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from urllib.parse import quote

TOKEN_ENV = "CAT_FOLLOW_WEB_TOKEN"  # the environment, not argv: other users can read /proc/PID/cmdline


async def _viewer(port: int, token: str, seconds: float, out: dict[str, int]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        out["errors"] += 1
        return
    writer.write(f"GET /stream.mjpg?token={quote(token)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("ascii"))
    t_end = time.monotonic() + seconds
    try:
        while (left := t_end - time.monotonic()) > 0:
            chunk = await asyncio.wait_for(reader.read(1 << 16), left)
            if not chunk:
                break
            out["bytes"] += len(chunk)
            out["parts"] += chunk.count(b"--frame\r\n")
    except (TimeoutError, OSError):
        pass
    finally:
        writer.close()


async def _main(port: int, n: int, seconds: float, token: str) -> dict[str, int]:
    out = {"bytes": 0, "parts": 0, "errors": 0}
    await asyncio.gather(*(_viewer(port, token, seconds, out) for _ in range(n)))
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), os.environ[TOKEN_ENV]))))
