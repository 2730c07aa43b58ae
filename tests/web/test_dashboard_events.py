"""GET /api/v1/events: job changes as server-sent events, resumable, bounded, ended by a stop."""

from __future__ import annotations

import json
import time
from typing import Iterator, NamedTuple

import anyio
import httpx
import pytest

from server.jobfeed import JobFeed
from server.records import JobRecord
from server.web import events
from server.web.events import MAX_STREAMS, StreamSlots, changes, start_version

TINY_JOB = {"dataset": "tiny", "hiddenSizes": [8], "epochs": 3, "seed": 3}


class Event(NamedTuple):
    """One parsed server-sent event."""

    type: str
    id: int
    data: dict


def read_events(lines: Iterator[str]) -> Iterator[Event]:
    """Events from a text/event-stream's lines (comments skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if "data" in fields:
                yield Event(fields.get("event", "message"), int(fields["id"]), json.loads(fields["data"]))
            fields = {}
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


def until_ended(events: Iterator[Event], job_id: str) -> list[Event]:
    """The events read until `job_id` reaches a final state."""
    seen = []
    for event in events:
        seen.append(event)
        if event.type == "job" and event.data["jobId"] == job_id and event.data["state"] in (
                "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return seen
    raise AssertionError(f"the stream ended before job {job_id} did: {seen}")


def eventually_open(client: httpx.Client, tries: int = 100) -> bool:
    """Whether a new stream is accepted within `tries` attempts 0.05 s apart (a slot frees a
    moment after its client left: the server sees the disconnect, its wait slice returns)."""
    for _ in range(tries):
        with client.stream("GET", "/api/v1/events") as stream:
            if stream.status_code == 200:
                return True
        time.sleep(0.05)
    return False


@pytest.fixture
def http(make_server):
    """(running server, httpx client on its HTTP port)."""
    running = make_server(http=True, http_port=0)
    with httpx.Client(base_url=f"http://127.0.0.1:{running.server.http_port}", timeout=30) as client:
        yield running, client


def test_a_job_streams_in_order_to_succeeded_with_growing_ids(http):
    _, client = http
    since = client.get("/api/v1/jobs").json()["feedVersion"]
    with client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": since}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        job_id = client.post("/api/v1/jobs", json={**TINY_JOB, "batchSize": 5}).json()["jobId"]
        seen = until_ended(read_events(stream.iter_lines()), job_id)
    # The feed keeps each job's latest record, so a follower may miss QUEUED (it started at once),
    # but never sees the states out of order; a job of 360 steps is seen running.
    order = ["JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    states = [order.index(e.data["state"]) for e in seen]
    assert states == sorted(states) and states[-1] == 2 and 1 in states
    ids = [e.id for e in seen]
    assert ids == sorted(ids) and ids[0] > int(since)
    assert len(seen[-1].data["history"]) == 3
    assert seen[-1].data == client.get(f"/api/v1/jobs/{job_id}").json()


def test_last_event_id_resumes_after_that_change_only(http):
    _, client = http
    with client.stream("GET", "/api/v1/events", params={"since": "0"}) as stream:
        job_id = client.post("/api/v1/jobs", json=TINY_JOB).json()["jobId"]
        first = until_ended(read_events(stream.iter_lines()), job_id)
    middle = first[len(first) // 2].id
    with client.stream("GET", "/api/v1/events", headers={"Last-Event-ID": str(middle)}) as stream:
        events = read_events(stream.iter_lines())
        resumed = next(events)
        client.delete(f"/api/v1/jobs/{job_id}")
        deleted = next(events)
    assert resumed.id > middle and resumed.data["state"] == "JOB_STATE_SUCCEEDED"  # the latest record
    assert deleted.type == "deleted" and deleted.data == {"jobId": job_id}


def test_streams_beyond_the_bound_get_429_and_a_stop_ends_the_open_ones(http):
    running, client = http
    opened = [client.stream("GET", "/api/v1/events") for _ in range(MAX_STREAMS)]
    streams = [s.__enter__() for s in opened]
    assert all(s.status_code == 200 for s in streams)
    refused = client.get("/api/v1/events")
    assert refused.status_code == 429 and "event streams are open" in refused.json()["error"]
    opened.pop().__exit__(None, None, None)  # one closes: its slot is free once the server sees it gone
    streams.pop()
    assert eventually_open(client)
    running.stop()
    for stream, context in zip(streams, opened):
        assert list(read_events(stream.iter_lines())) == []  # ends (no hang) without events
        context.__exit__(None, None, None)


class FakePlane:
    """Just what changes() reads of a DataPlane: a feed and whether the server is ready."""

    def __init__(self, feed: JobFeed) -> None:
        self.feed = feed
        self.serving = True

    def __repr__(self) -> str:
        return f"FakePlane({self.feed!r})"

    def ready(self) -> bool:
        """Serving until the test says otherwise."""
        return self.serving


def test_a_follower_behind_the_kept_changes_is_told_to_resync():
    feed = JobFeed(keep=2)
    for i in range(5):
        feed.publish(JobRecord(job_id=f"job{i}", name="", config={}))
    plane = FakePlane(feed)

    async def first_two() -> list[str]:
        stream = changes(plane, 1, StreamSlots(1))
        chunks = [await stream.__anext__(), await stream.__anext__()]
        await stream.aclose()
        return chunks

    hello, batch = anyio.run(first_two)
    assert hello.startswith(": ")
    events = list(read_events(batch.splitlines()))
    assert events[0].type == "resync" and events[0].data == {"feedVersion": "5"}
    assert [e.data["jobId"] for e in events[1:]] == ["job3", "job4"] and {e.id for e in events} == {5}


def test_a_quiet_stream_sends_heartbeats_and_ends_when_the_server_stops(monkeypatch):
    monkeypatch.setattr(events, "SLICE", 0.01)
    monkeypatch.setattr(events, "HEARTBEAT", 0.03)
    plane = FakePlane(JobFeed())

    async def follow() -> list[str]:
        chunks = []
        async for chunk in changes(plane, 0, StreamSlots(1)):
            chunks.append(chunk)
            if chunk == ": heartbeat\n\n" and len(chunks) == 3:
                plane.serving = False  # the server drains: the stream ends after this wait
        return chunks

    chunks = anyio.run(follow)
    assert chunks[1:] == [": heartbeat\n\n"] * 2


@pytest.mark.parametrize("header, expected", [(None, 7), ("", 7), ("3", 3), ("0", 0), ("8", 7), ("-1", 7), ("x", 7)])
def test_a_stream_starts_after_a_known_version_else_now(header, expected):
    assert start_version(header, current=7) == expected
