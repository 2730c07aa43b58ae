"""The SDK's transport: retries through the service config, bearer tokens, TLS and mutual TLS.

The real server's TLS and tokens are tested end to end in
tests/reliability/test_access.py; here the client's side is checked against a
tiny in-test gRPC server that records what it receives and can be told to fail
on purpose, which the real server cannot.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2_grpc

from client import NNClient, NNServiceError
from client.channel import BearerTokenInterceptor, service_config
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc


class _Recorder(pb_grpc.NNServiceServicer):
    """Answers GetStatus/WatchJob, fails Train, and records metadata and call counts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.calls, self.metadata = failures, {}, []
        self._lock = threading.Lock()

    def _enter(self, name, context):
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            self.metadata.append(dict(context.invocation_metadata()))
            failing = self.calls[name] <= self.failures
        if failing:
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")

    def Train(self, request, context):
        self._enter("Train", context)
        return pb.TrainResponse(job_id="j1")

    def GetStatus(self, request, context):
        self._enter("GetStatus", context)
        return pb.JobStatus(job_id=request.job_id, state=pb.JOB_STATE_RUNNING)

    def WatchJob(self, request, context):
        self._enter("WatchJob", context)
        yield pb.JobStatus(job_id=request.job_id, state=pb.JOB_STATE_RUNNING)
        yield pb.JobStatus(job_id=request.job_id, state=pb.JOB_STATE_SUCCEEDED, model_id="m")


@pytest.fixture
def fake_server():
    """Start a recording server; yields (start(failures, credentials) -> (recorder, port))."""
    servers = []

    def start(failures=0, credentials=None):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        recorder = _Recorder(failures)
        pb_grpc.add_NNServiceServicer_to_server(recorder, server)
        health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
        address = "127.0.0.1:0"
        port = (server.add_secure_port(address, credentials) if credentials
                else server.add_insecure_port(address))
        server.start()
        servers.append(server)
        return recorder, port

    yield start
    for server in servers:
        server.stop(0)


def test_service_config_retries_only_unavailable_and_never_train():
    config = json.loads(service_config())
    (method,) = config["methodConfig"]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    names = {entry.get("method") for entry in method["name"]}
    assert "Train" not in names and {"GetStatus", "Predict", "WatchJob"} <= names


def test_unavailable_is_retried_with_backoff_until_it_succeeds(fake_server):
    recorder, port = fake_server(failures=2)
    with NNClient(f"127.0.0.1:{port}", timeout=10) as client:
        assert client.status("j1").state == "RUNNING"
    assert recorder.calls["GetStatus"] == 3


def test_retries_stop_after_max_attempts_with_one_error_type(fake_server):
    recorder, port = fake_server(failures=100)
    with NNClient(f"127.0.0.1:{port}", timeout=10) as client:
        with pytest.raises(NNServiceError) as info:
            client.status("j1")
    assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert info.value.method == "GetStatus" and info.value.message == "warming up"
    assert str(info.value) == "UNAVAILABLE: warming up"
    assert recorder.calls["GetStatus"] == 5


def test_retries_can_be_turned_down_or_off(fake_server):
    recorder, port = fake_server(failures=100)
    for attempts, total in ((1, 1), (2, 3)):
        with NNClient(f"127.0.0.1:{port}", timeout=10, retry_attempts=attempts) as client:
            with pytest.raises(NNServiceError):
                client.status("j1")
        assert recorder.calls["GetStatus"] == total
    with pytest.raises(ValueError, match="1..5"):
        NNClient("127.0.0.1:1", retry_attempts=0)


def test_train_is_not_retried_so_a_job_is_never_submitted_twice(fake_server):
    recorder, port = fake_server(failures=100)
    with NNClient(f"127.0.0.1:{port}", timeout=10) as client:
        with pytest.raises(NNServiceError):
            client.train(epochs=1)
    assert recorder.calls["Train"] == 1


def test_token_goes_as_bearer_metadata_on_unary_and_streaming_calls(fake_server):
    recorder, port = fake_server()
    with NNClient(f"127.0.0.1:{port}", token="s3cret-token") as client:
        client.status("j1")
        states = [s.state for s in client.watch("j1")]
    assert states == ["RUNNING", "SUCCEEDED"]
    assert [m.get("authorization") for m in recorder.metadata] == ["Bearer s3cret-token"] * 2
    with NNClient(f"127.0.0.1:{port}") as client:
        client.status("j1")
    assert "authorization" not in recorder.metadata[-1]


def test_tokens_are_checked_and_never_shown():
    with pytest.raises(ValueError, match="line breaks"):
        BearerTokenInterceptor("abc\r\nx-admin: 1")
    assert "s3cret" not in repr(BearerTokenInterceptor("s3cret"))


def test_a_client_key_needs_its_certificate():
    with pytest.raises(ValueError, match="give both or neither"):
        NNClient("127.0.0.1:1", private_key=b"key")


def _pki():
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (PEM bytes)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc)

    def make(name, issuer_name, issuer_key, *, ca=False, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer_name or subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(issuer_key or key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return key, cert, key_pem, cert.public_bytes(serialization.Encoding.PEM)

    ca_key, ca_cert, _, ca_pem = make("test ca", None, None, ca=True)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    _, _, server_key, server_cert = make("localhost", ca_cert.subject, ca_key, san=san)
    _, _, client_key, client_cert = make("client", ca_cert.subject, ca_key)
    return ca_pem, (server_key, server_cert), (client_key, client_cert)


def test_tls_and_mutual_tls(fake_server):
    ca, (server_key, server_cert), (client_key, client_cert) = _pki()
    credentials = grpc.ssl_server_credentials([(server_key, server_cert)], root_certificates=ca,
                                              require_client_auth=True)
    recorder, port = fake_server(credentials=credentials)
    target = f"127.0.0.1:{port}"
    with NNClient(target, timeout=10, root_certificates=ca, private_key=client_key,
                  certificate_chain=client_cert, token="tok") as client:
        assert client.health().serving
        assert client.status("j1").job_id == "j1"
    assert recorder.metadata[-1]["authorization"] == "Bearer tok"
    for kwargs in ({"root_certificates": ca}, {}):  # no client certificate; no TLS at all
        with NNClient(target, timeout=5, **kwargs) as client:
            with pytest.raises(NNServiceError) as info:
                client.health()
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
    assert recorder.calls["GetStatus"] == 1


def test_health_reports_the_servicers_status(fake_server):
    _, port = fake_server()
    with NNClient(f"127.0.0.1:{port}") as client:
        result = client.health()
        assert result.status == "SERVING" and result.serving
        with pytest.raises(NNServiceError) as info:
            client.health("no.such.Service")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
