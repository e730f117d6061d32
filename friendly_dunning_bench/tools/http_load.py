"""A light HTTP load client for the benchmarks: every request is turned into
bytes before the clock starts, then sent over plain sockets from one asyncio
loop, one connection per request (``Connection: close``, as Odoo's prefork
workers answer). Its own cost is a few tens of microseconds a request, so
the figures are the server's, not the client's: a thread-per-connection
client built on ``http.client`` costs more CPU than Odoo's ``/web/health``
and, on a two-core machine, caps what it can measure well below what Odoo
serves."""

import asyncio
import time


def raw_request(method, path, body=None, headers=None):
    """The bytes of one HTTP/1.1 request to the loopback server."""
    body = body or b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    headers = {"Connection": "close", **(headers or {})}
    if body or method == "POST":
        headers["Content-Length"] = str(len(body))
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _exchange(port, data, timeout):
    """Send ``data``, read the whole answer: its status code, or ``None``
    when the connection failed or timed out."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout
        )
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        writer.write(data)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout)
    except (OSError, asyncio.TimeoutError):
        return None
    finally:
        writer.close()
    status_line = answer.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        return None
    return int(status_line[1])


def send_all(port, requests, concurrency, timeout=60):
    """Send every request of ``requests`` (bytes, see ``raw_request``), at
    most ``concurrency`` at a time. Returns ``(start, results)``: the
    monotonic time the first was sent and, per request in order, ``(status,
    monotonic time its answer ended)``."""

    async def run():
        pending = iter(enumerate(requests))
        results = [None] * len(requests)

        async def client():
            for index, data in pending:
                status = await _exchange(port, data, timeout)
                results[index] = (status, time.monotonic())

        start = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return start, results

    return asyncio.run(run())


def send_for(port, duration, concurrency, requests, timeout=30):
    """Send requests taken from the iterator ``requests`` (bytes) for
    ``duration`` seconds from ``concurrency`` connections at a time:
    ``(ok, errors, seconds)``, ok counting the answers 200."""

    async def run():
        counts = {"ok": 0, "errors": 0}
        deadline = time.monotonic() + duration

        async def client():
            while time.monotonic() < deadline:
                status = await _exchange(port, next(requests), timeout)
                counts["ok" if status == 200 else "errors"] += 1

        start = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return counts["ok"], counts["errors"], time.monotonic() - start

    return asyncio.run(run())
