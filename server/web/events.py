"""GET /api/v1/events: every job change as server-sent events, from the data plane's JobFeed.

Each change is one `job` event whose data is the job's JobStatus JSON (a `deleted` event names a
deleted job) and whose `id:` is the feed version, so a client that reconnects with
Last-Event-ID (or ?since=) resumes where it stopped; a `resync` event says changes were dropped
(the client reloads the table). The blocking JobFeed.since() waits on worker threads of the
streams' own limiter, never on the event loop nor on the threads the other routes use.
"""

from __future__ import annotations

import json
import threading
from typing import AsyncIterator, Callable

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from server.convert import job_to_status
from server.dataplane import DataPlane
from server.web.errors import error_body
from server.web.jsonmsg import to_json

MAX_STREAMS = 16  # open event streams per server; each holds a waiting thread
HEARTBEAT = 15.0  # seconds of silence before a comment line keeps proxies from closing the stream
SLICE = 0.5  # seconds one wait lasts: a stream notices the server stopping within this
RETRY_MS = 2000  # the reconnect delay the stream advises its clients


class StreamSlots:
    """A bound on open event streams, and the thread limiter their waits run on."""

    def __init__(self, limit: int = MAX_STREAMS) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()
        self._limiter: anyio.CapacityLimiter | None = None

    def __repr__(self) -> str:
        return f"StreamSlots({self._open}/{self.limit} open)"

    def acquire(self) -> bool:
        """Take a slot; False when all are taken."""
        with self._lock:
            if self._open >= self.limit:
                return False
            self._open += 1
            return True

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._open -= 1

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The streams' own thread limiter (made on first use, inside the event loop)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.limit)
        return self._limiter


class EventStream(StreamingResponse):
    """A text/event-stream answer that gives its slot back however it ends."""

    def __init__(self, content: AsyncIterator[str], release: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._release = release

    def __repr__(self) -> str:
        return "EventStream(text/event-stream)"

    async def __call__(self, scope, receive, send) -> None:
        """Stream, then release the slot (also on disconnect or cancellation)."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def sse(event: str, data: dict, version: int) -> str:
    """One server-sent event: its type, the feed version as its id, its data on one line."""
    return f"event: {event}\nid: {version}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def start_version(last_event_id: str | None, current: int) -> int:
    """Where a stream starts: after Last-Event-ID when it is a feed version, else now."""
    try:
        version = int(last_event_id or "")
    except ValueError:
        return current
    return version if 0 <= version <= current else current


async def changes(plane: DataPlane, version: int, slots: StreamSlots) -> AsyncIterator[str]:
    """Events for every change after `version` until the server stops (drains)."""
    yield f": nnservice job events from version {version}\nretry: {RETRY_MS}\n\n"
    quiet = 0.0
    while plane.ready():
        new, batch, complete = await anyio.to_thread.run_sync(plane.feed.since, version, SLICE,
                                                              limiter=slots.limiter)
        events = [] if complete else [sse("resync", {"feedVersion": str(new)}, new)]
        for job_id, record in batch:
            events.append(sse("deleted", {"jobId": job_id}, new) if record is None
                          else sse("job", to_json(job_to_status(record)), new))
        version = new
        if events:
            quiet = 0.0
            yield "".join(events)  # one write: a batch arrives whole, so its id is safe to resume from
        else:
            quiet += SLICE
            if quiet >= HEARTBEAT:
                quiet = 0.0
                yield ": heartbeat\n\n"


def events_route(plane: DataPlane, limit: int = MAX_STREAMS) -> Callable:
    """The GET /api/v1/events endpoint over `plane`, at most `limit` streams at a time (429 beyond)."""
    slots = StreamSlots(limit)

    async def events(request: Request, since: str | None = None):
        """Server-sent events: `job` (a JobStatus), `deleted`, `resync`; resume with Last-Event-ID."""
        version = start_version(request.headers.get("last-event-id") or since, plane.feed.version)
        if not slots.acquire():
            return JSONResponse(error_body(f"{slots.limit} event streams are open, the most this server "
                                           "allows; close one or retry later", "RESOURCE_EXHAUSTED"),
                                status_code=429, headers={"Retry-After": "5"})
        return EventStream(changes(plane, version, slots), slots.release)

    return events
