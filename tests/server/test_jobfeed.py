"""JobFeed: the all-jobs change feed the dashboard follows and metrics listen to."""

from __future__ import annotations

import threading

from server.jobfeed import JobFeed
from server.records import JobRecord
from tests.conftest import wait_for_job
from protos import nn_service_pb2 as pb


def test_since_returns_the_latest_record_of_each_changed_job():
    feed = JobFeed()
    feed.publish(JobRecord("a", "", {}, state="QUEUED"))
    feed.publish(JobRecord("b", "", {}))
    feed.publish(JobRecord("a", "", {}, state="RUNNING"))
    version, changes, complete = feed.since(0)
    assert version == 3 and complete
    assert [(job_id, record.state) for job_id, record in changes] == [("b", "QUEUED"), ("a", "RUNNING")]
    feed.deleted("b")
    assert feed.since(3)[1] == [("b", None)]


def test_a_follower_too_far_behind_is_told_to_resynchronise():
    feed = JobFeed(keep=2)
    for job_id in "abc":
        feed.publish(JobRecord(job_id, "", {}))
    assert feed.since(0)[2] is False and feed.since(1)[2] is True


def test_since_waits_for_a_change_and_listeners_see_it():
    feed, seen = JobFeed(), []
    feed.subscribe(lambda record, job_id: seen.append(job_id))
    feed.subscribe(lambda record, job_id: 1 / 0)  # a broken listener changes nothing for the others
    threading.Timer(0.05, feed.publish, (JobRecord("late", "", {}),)).start()
    version, changes, _ = feed.since(0, timeout=5)
    assert version == 1 and changes[0][0] == "late" and seen == ["late"]


def test_a_training_job_publishes_every_state_and_progress(nn_server, stub):
    feed = nn_server.server.plane.feed
    job = stub.Train(pb.TrainRequest(dataset="tiny", hidden_size=8, epochs=2, batch_size=16))
    wait_for_job(stub, job.job_id)
    _, changes, _ = feed.since(0)
    states = {record.state for job_id, record in changes if job_id == job.job_id}
    assert states == {"SUCCEEDED"}  # the latest record only
    assert feed.version >= 4  # queued, running, each epoch, succeeded
