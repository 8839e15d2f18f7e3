"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next
pre-built request as soon as the previous answer arrived. Runs in its own process so it does not
share the server's interpreter. Used by ingest.py for both the baseline and the real /webhook,
so the two figures come from the same generator."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # "200 queued" -> count
    errors: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        values = sorted(self.latencies_ms)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def _connection(host, port, requests, next_index, deadline, result, classify):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            i = next_index()
            if i is None:
                return
            start = time.perf_counter()
            writer.write(requests[i])
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1].decode()
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            body = await reader.readexactly(length) if length else b""
            result.latencies_ms.append((time.perf_counter() - start) * 1000)
            key = f"{status} {classify(body)}"
            result.statuses[key] = result.statuses.get(key, 0) + 1
            result.requests += 1
    except (ConnectionError, asyncio.IncompleteReadError):
        result.errors += 1
    finally:
        writer.close()


def _status_of(body: bytes) -> str:
    # The webhook answers {"status": "..."}; anything else is reported raw (truncated).
    marker = b'"status":"'
    i = body.find(marker)
    if i < 0:
        return body[:40].decode(errors="replace")
    j = body.find(b'"', i + len(marker))
    return body[i + len(marker) : j].decode()


async def run_load(host: str, port: int, requests: list[bytes], *, connections: int, seconds: float) -> LoadResult:
    result = LoadResult()
    counter = iter(range(len(requests)))

    def next_index():
        return next(counter, None)

    deadline = time.monotonic() + seconds
    start = time.perf_counter()
    await asyncio.gather(
        *(_connection(host, port, requests, next_index, deadline, result, _status_of) for _ in range(connections))
    )
    result.seconds = time.perf_counter() - start
    return result


def run_load_in_process(args: tuple) -> LoadResult:
    host, port, requests, connections, seconds = args
    return asyncio.run(run_load(host, port, requests, connections=connections, seconds=seconds))
