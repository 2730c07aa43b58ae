"""KServeServicer: inference.GRPCInferenceService (KServe v2 / Open Inference Protocol) <-> the data plane.

A model's name is its nnservice model id; each model has one version, "1".
"""

from __future__ import annotations

from protos import grpc_predict_v2_pb2 as kpb
from protos import grpc_predict_v2_pb2_grpc as kpb_grpc
from server.dataplane import DataPlane
from server.kserve_rules import EXTENSIONS, check_version, index_entry, repository_index
from server.kserve_tensors import decode_infer_input, encode_infer_response, metadata_response, requested_outputs
from server.rpc_errors import unary


class KServeServicer(kpb_grpc.GRPCInferenceServiceServicer):
    """inference.GRPCInferenceService: each method decodes, calls the data plane and encodes."""

    def __init__(self, plane: DataPlane) -> None:
        self._plane = plane

    def __repr__(self) -> str:
        return f"KServeServicer({self._plane!r})"

    @unary
    def ServerLive(self, request, context):
        """Whether the server answers."""
        return kpb.ServerLiveResponse(live=self._plane.live())

    @unary
    def ServerReady(self, request, context):
        """Whether the server takes inference requests (false while draining)."""
        return kpb.ServerReadyResponse(ready=self._plane.ready())

    @unary
    def ModelReady(self, request, context):
        """Whether one model can answer now (false for a job still training or damaged files)."""
        check_version(request.name, request.version)
        return kpb.ModelReadyResponse(ready=self._plane.model_ready(request.name))

    @unary
    def ServerMetadata(self, request, context):
        """The server's name, version and the protocol extensions it implements."""
        meta = self._plane.server_metadata()
        return kpb.ServerMetadataResponse(name=meta["name"], version=meta["version"], extensions=EXTENSIONS)

    @unary
    def ModelMetadata(self, request, context):
        """One model's version, input and outputs."""
        check_version(request.name, request.version)
        spec, classes = self._plane.signature(request.name)
        return metadata_response(request.name, spec, classes)

    @unary
    def ModelInfer(self, request, context):
        """Probabilities and classes for the request's input, raw or typed like the input."""
        if request.model_version:
            check_version(request.model_name, request.model_version)
        outputs, max_rows = requested_outputs(request), self._plane.settings.max_predict_rows
        answer = self._plane.predict(request.model_name, lambda spec: decode_infer_input(request, spec, max_rows),
                                     protocol="kserve-grpc")
        return encode_infer_response(request, answer, outputs)

    @unary
    def RepositoryIndex(self, request, context):
        """Every model with its state: READY, or UNAVAILABLE and why (Triton's extension)."""
        states = repository_index(self._plane, request.repository_name, request.ready)
        return kpb.RepositoryIndexResponse(models=[index_entry(state) for state in states])
