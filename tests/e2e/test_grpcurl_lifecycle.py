"""The README's grpcurl model lifecycle (examples/model_lifecycle.sh), run with the real grpcurl binary."""

from __future__ import annotations

import grpc
import onnx
from test_grpcurl import grpcurl  # noqa: F401  (the fixture: the venv's grpcurl binary)
from walkthrough import ROOT, json_messages, readme_block, run_step, script_body, steps

from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from tests.server.lifecycle_testutils import raw_probabilities, train_tiny

SCRIPT = ROOT / "examples" / "model_lifecycle.sh"
SECOND = "127.0.0.1:50052"


def test_readme_shows_exactly_the_lifecycle_script():
    """The README's lifecycle block and examples/model_lifecycle.sh are the same lines."""
    assert readme_block("model_lifecycle.sh") == script_body(SCRIPT)


def test_lifecycle_script_against_two_real_servers(grpcurl, make_server, tmp_path):  # noqa: F811
    """Every step, verbatim but for the ports: the model moves bit for bit, then is deleted."""
    first, second = make_server(), make_server()
    with grpc.insecure_channel(first.target) as a, grpc.insecure_channel(second.target) as b:
        source, target = pb_grpc.NNServiceStub(a), pb_grpc.NNServiceStub(b)
        job = train_tiny(source).job_id
        step = steps(SCRIPT)
        assert list(step) == [1, 2, 3, 4]

        def run(n: int):
            return run_step(step[n].replace(SECOND, f"127.0.0.1:{second.port}"), f"127.0.0.1:{first.port}", job=job)

        run(1)
        imported = json_messages(run(2).stdout)[0]
        assert imported["name"] == "moved" and imported["dataset"] == "tiny"
        assert raw_probabilities(target, imported["model_id"]) == raw_probabilities(source, job)
        run(3)
        graph = onnx.load("/tmp/model.onnx").graph
        assert [n.op_type for n in graph.node] == ["Gemm", "Relu", "Gemm", "Softmax"]
        deleted, job_status = json_messages(run(4).stdout)
        assert deleted["model_id"] == job_status["job_id"] == job
        assert source.ListModels(pb.ListModelsRequest()).models == []
        assert source.ListJobs(pb.ListJobsRequest()).jobs == []
