"""A small round-robin HTTP proxy: the load balancer in front of several replicas of the bot.

Each request goes to the next upstream in turn. An upstream that refuses the connection (its
process is gone) is skipped and the request is tried on the next one, as a load balancer with
health checks would do, and it is left out for `down_seconds` before it is tried again. A request
an upstream accepted but did not answer (killed mid-request) is not retried here: a POST may have
had its effect, so the caller gets 502 and decides (Telegram delivers the update again). All
upstreams refusing: 502 as well.

`forwarded` counts the requests each upstream answered, `refused` the connections refused,
`cut` the requests lost mid-way.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}


class RoundRobinProxy:
    def __init__(self, upstreams: list[str], *, timeout: float = 60.0, down_seconds: float = 2.0) -> None:
        self.upstreams = [u.rstrip("/") for u in upstreams]
        self.port = 0
        self.forwarded: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.cut: Counter[str] = Counter()
        self._timeout = timeout
        self._down_seconds = down_seconds
        self._down_until: dict[str, float] = {}
        self._turn = itertools.count()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        # No pooled connections: a connection to a killed replica must fail as "refused", not as a cut request.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout),
                                              connector=aiohttp.TCPConnector(force_close=True),
                                              auto_decompress=False)
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RoundRobinProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _order(self) -> list[str]:
        """The upstreams from the next one's turn on, the ones lately refusing last."""
        first = next(self._turn) % len(self.upstreams)
        ring = self.upstreams[first:] + self.upstreams[:first]
        now = time.monotonic()
        return sorted(ring, key=lambda u: self._down_until.get(u, 0.0) > now)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        for upstream in self._order():
            try:
                async with self._session.request(request.method, upstream + request.rel_url.path_qs, data=body,
                                                 headers=headers) as response:
                    payload = await response.read()
                    self.forwarded[upstream] += 1
                    self._down_until.pop(upstream, None)
                    out = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
                    return web.Response(status=response.status, body=payload, headers=out)
            except aiohttp.ClientConnectorError:  # refused: nobody there, try the next replica
                self.refused[upstream] += 1
                self._down_until[upstream] = time.monotonic() + self._down_seconds
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:  # accepted, then lost: not ours to repeat
                self.cut[upstream] += 1
                return web.Response(status=502, text=f"upstream {upstream} failed: {type(exc).__name__}")
        return web.Response(status=502, text="no upstream answered")
