"""TLS and bearer tokens apply to inference.GRPCInferenceService as to nnservice.v1; its live and
ready probes stay open like health."""

from __future__ import annotations

import grpc
import pytest

from protos import grpc_predict_v2_pb2 as kpb
from protos import grpc_predict_v2_pb2_grpc as kpb_grpc
from tests.reliability.test_access import TOKEN, pki, tls_settings  # noqa: F401  (pki: the fixture)

Input = kpb.ModelInferRequest.InferInputTensor


def infer_request(model_id: str) -> kpb.ModelInferRequest:
    return kpb.ModelInferRequest(model_name=model_id, inputs=[Input(name="input", datatype="UINT8", shape=[1, 784])],
                                 raw_input_contents=[bytes(784)])


def test_kserve_over_tls_needs_the_token_but_its_probes_do_not(server_with_model, pki):  # noqa: F811
    server, model_id = server_with_model(auth_tokens=(TOKEN,), **tls_settings(pki, mutual=False))
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca"].cert.read_bytes())
    with grpc.secure_channel(server.target, credentials) as channel:
        stub = kpb_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerLive(kpb.ServerLiveRequest(), timeout=10).live
        assert stub.ServerReady(kpb.ServerReadyRequest(), timeout=10).ready
        for call in (lambda: stub.ModelInfer(infer_request(model_id), timeout=10),
                     lambda: stub.ModelMetadata(kpb.ModelMetadataRequest(name=model_id), timeout=10),
                     lambda: stub.RepositoryIndex(kpb.RepositoryIndexRequest(), timeout=10)):
            with pytest.raises(grpc.RpcError) as info:
                call()
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answer = stub.ModelInfer(infer_request(model_id), timeout=10, metadata=[("authorization", f"Bearer {TOKEN}")])
        assert len(answer.raw_output_contents) == 2
    with grpc.insecure_channel(server.target) as plaintext:
        with pytest.raises(grpc.RpcError) as info:
            kpb_grpc.GRPCInferenceServiceStub(plaintext).ServerLive(kpb.ServerLiveRequest(), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
