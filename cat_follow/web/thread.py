"""The web server's own thread and event loop, supervised like every worker: a failure is
kept, logged and reported to ``Health``, which the main loop checks every tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from aiohttp import web

from cat_follow.threads.supervised import Health, SupervisedThread
from cat_follow.web.app import Hub, sample_trail

log = logging.getLogger(__name__)

SHUTDOWN_S = 1.0


class WebServerThread(SupervisedThread):
    """Owns the event loop, the aiohttp runner and the listening socket."""

    def __init__(self, app: web.Application, hub: Hub, host: str, port: int, health: Health) -> None:
        super().__init__("web", health)
        self.app = app
        self.hub = hub
        self.host = host
        self.port = port  # the bound port once ``bound`` is set (port 0 = any free one)
        self.bound = threading.Event()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.hub.bind(self._loop)
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_S)
        await runner.setup()
        sampler: asyncio.Task[None] | None = None
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
            if runner.addresses:  # the real port, where port 0 asked for any free one
                self.port = int(runner.addresses[0][1])
            self.bound.set()
            sampler = asyncio.create_task(sample_trail(self.app))
            while not self.stopping.is_set():
                self.beat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.2)
        finally:
            await self.hub.close()
            if sampler is not None:
                sampler.cancel()
            await runner.cleanup()

    def stop(self) -> None:
        super().stop()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)
