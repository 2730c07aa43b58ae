"""Unit tests for client.progress: the job progress bar nnctl --wait and NNClient.wait draw."""
from __future__ import annotations

import io

from client import JobStatus
from client.progress import JobProgressBar
from protos import nn_service_pb2 as pb


def test_the_progress_bar_shows_the_servers_eta_and_not_tqdms_extrapolation():
    out = io.StringIO()
    slow_first_step = pb.JobStatus(job_id="j", state=pb.JOB_STATE_RUNNING, epoch=0, total_epochs=20,
                                   iteration=1, total_iterations=300, loss=1.2, eta_seconds=3.0)
    with JobProgressBar("j", file=out) as bar:
        bar.update(JobStatus.from_proto(pb.JobStatus(job_id="j", state=pb.JOB_STATE_QUEUED)))
        bar.update(JobStatus.from_proto(slow_first_step))
    shown = out.getvalue().split("\r")[-1]
    assert "1/300" in shown and "state=RUNNING" in shown and "eta=00:03" in shown, shown
    assert "<" not in shown, shown  # tqdm's "elapsed<remaining" would extrapolate that first step
