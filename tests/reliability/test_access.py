"""TLS, mutual TLS and bearer tokens, end to end: a real server, the SDK and nnctl."""

from __future__ import annotations

import logging
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client import NNClient
from client.cli import main as nnctl_main
from client.errors import NNServiceError
from protos import nn_service_pb2 as pb
from protos import nn_service_pb2_grpc as pb_grpc
from server import Settings, create_server
from server.__main__ import main as server_main
from tests.reliability.pki import CertificateAuthority
from tests.reliability.reliability_testutils import ServerProcess, pixels

TOKEN, OTHER_TOKEN = "s3cret-token-for-tests", "second-token"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA with a server and a client certificate, and a rogue CA with its own client."""
    folder = tmp_path_factory.mktemp("pki")
    ca, rogue = CertificateAuthority(folder / "ca"), CertificateAuthority(folder / "rogue", "rogue CA")
    return dict(ca=ca, server=ca.issue("server", server=True), client=ca.issue("client", server=False),
                rogue_client=rogue.issue("rogue-client", server=False), rogue=rogue)


@pytest.fixture
def tokens_file(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# nnservice tokens\n\n{TOKEN}\n   # an indented comment\n  {OTHER_TOKEN}  \n")
    path.chmod(0o600)
    return path


def tls_settings(pki, mutual: bool) -> dict:
    values = dict(tls_cert=pki["server"].cert, tls_key=pki["server"].key)
    return {**values, "tls_client_ca": pki["ca"].cert} if mutual else values


def sdk(target: str, **options) -> NNClient:
    """A client that fails fast: one attempt, short deadline."""
    return NNClient(target, timeout=10, retry_attempts=1, **options)


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(NNServiceError) as info:
        call()
    return info.value.code


def test_tls_serves_trusting_clients_and_refuses_plaintext(server_with_model, pki):
    server, model_id = server_with_model(**tls_settings(pki, mutual=False))
    with sdk(server.target, root_certificates=pki["ca"].cert.read_bytes()) as client:
        assert client.health().serving
        assert len(client.predict(model_id, pixels(2)).classes) == 2
    assert nnctl_main(["--target", server.target, "--tls-ca", str(pki["ca"].cert), "health"]) == 0
    with sdk(server.target) as plaintext:
        assert code_of(lambda: plaintext.get_model(model_id)) == grpc.StatusCode.UNAVAILABLE
    with sdk(server.target, root_certificates=pki["rogue"].cert.read_bytes()) as untrusting:
        assert code_of(lambda: untrusting.get_model(model_id)) == grpc.StatusCode.UNAVAILABLE


def test_a_tls_client_cannot_talk_to_a_plaintext_server(nn_server, pki):
    with sdk(nn_server.target, root_certificates=pki["ca"].cert.read_bytes()) as client:
        assert code_of(lambda: client.list_models()) == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_needs_a_client_certificate_from_the_ca(server_with_model, pki):
    server, model_id = server_with_model(**tls_settings(pki, mutual=True))
    ca = pki["ca"].cert.read_bytes()
    chain, key = pki["client"].read()
    with sdk(server.target, root_certificates=ca, certificate_chain=chain, private_key=key) as client:
        assert client.get_model(model_id).model_id == model_id
    with sdk(server.target, root_certificates=ca) as anonymous:
        assert code_of(lambda: anonymous.get_model(model_id)) == grpc.StatusCode.UNAVAILABLE
    chain, key = pki["rogue_client"].read()
    with sdk(server.target, root_certificates=ca, certificate_chain=chain, private_key=key) as stranger:
        assert code_of(lambda: stranger.get_model(model_id)) == grpc.StatusCode.UNAVAILABLE


def test_tokens_guard_every_nnservice_rpc(server_with_model, tokens_file):
    server, model_id = server_with_model(auth_tokens_file=tokens_file, auth_tokens=("env-token",))
    for token in (TOKEN, OTHER_TOKEN, "env-token"):
        with sdk(server.target, token=token) as client:
            assert client.get_model(model_id).model_id == model_id
    for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
        with sdk(server.target, token=token) as client:
            for call in (lambda: client.get_model(model_id), lambda: client.list_jobs(),
                         lambda: client.predict(model_id, pixels(1)), lambda: client.train(epochs=1),
                         lambda: list(client.watch("0123456789abcdef"))):
                assert code_of(call) == grpc.StatusCode.UNAUTHENTICATED
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ListJobs(pb.ListJobsRequest(), metadata=[("authorization", f"Basic {TOKEN}")], timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED and "Bearer" in info.value.details()
    with sdk(server.target) as client:
        assert "authorization: Bearer" in str(pytest.raises(NNServiceError, client.list_models).value)


def _probe(target: str, metadata=()) -> tuple[int, list[str]]:
    """Health status and the reflected service names, without a token."""
    with grpc.insecure_channel(target) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10, metadata=metadata).status
        reply = next(reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10, metadata=metadata))
    return status, sorted(s.name for s in reply.list_services_response.service)


def test_probes_are_open_by_default_and_can_be_closed(make_server):
    open_server = make_server(auth_tokens=(TOKEN,))
    status, services = _probe(open_server.target)
    assert status == health_pb2.HealthCheckResponse.SERVING and "nnservice.v1.NNService" in services
    closed = make_server(auth_tokens=(TOKEN,), open_probes=False)
    for call in (lambda: _probe(closed.target), lambda: _probe(closed.target, [("authorization", "Bearer no")])):
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _probe(closed.target, [("authorization", f"Bearer {TOKEN}")])[0] == health_pb2.HealthCheckResponse.SERVING


def test_sdk_trains_and_predicts_over_mutual_tls_with_a_token(make_server, pki):
    server = make_server(**tls_settings(pki, mutual=True), auth_tokens=(TOKEN,))
    chain, key = pki["client"].read()
    with NNClient(server.target, timeout=30, root_certificates=pki["ca"].cert.read_bytes(),
                  certificate_chain=chain, private_key=key, token=TOKEN) as client:
        job_id, _ = client.train(hidden_size=8, epochs=1, train_size=500, eval_size=100, seed=1)
        final = client.wait(job_id, progress=False, timeout=60)
        assert final.state == "SUCCEEDED"
        assert client.predict(final.model_id, pixels(3)).probabilities.shape == (3, 10)


def test_nnctl_over_mutual_tls_with_a_token(server_with_model, pki, tokens_file, capsys, monkeypatch):
    server, model_id = server_with_model(**tls_settings(pki, mutual=True), auth_tokens_file=tokens_file)
    tls = ["--target", server.target, "--timeout", "10", "--tls-ca", pki["ca"].cert,
           "--tls-cert", pki["client"].cert, "--tls-key", pki["client"].key]

    def nnctl(*argv) -> tuple[int, str, str]:
        capsys.readouterr()
        code = nnctl_main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = nnctl(*tls, "--token", TOKEN, "model", model_id)
    assert code == 0 and model_id in out
    monkeypatch.setenv("NNSVC_TOKEN", OTHER_TOKEN)
    code, out, _ = nnctl(*tls, "models")
    assert code == 0 and model_id in out
    assert nnctl(*tls, "health")[0] == 0
    code, _, err = nnctl(*tls, "--token", "wrong", "models")
    assert code == 1 and "UNAUTHENTICATED" in err
    code, _, err = nnctl("--target", server.target, "--timeout", "5", "--token", TOKEN, "models")
    assert code == 3 and "cannot reach the server" in err  # plaintext against TLS: no connection


def test_nn_server_flags_and_environment_turn_on_mutual_tls_and_tokens(pki, tokens_file, tmp_path, mnist_dir):
    tls = ["--tls-cert", pki["server"].cert, "--tls-key", pki["server"].key, "--tls-client-ca", pki["ca"].cert]
    server = ServerProcess(tmp_path / "state", mnist_dir, tmp_path / "server.log", *map(str, tls),
                           "--auth-tokens-file", str(tokens_file), env={"NNSVC_AUTH_TOKENS": "env-token"})
    chain, key = pki["client"].read()
    options = dict(root_certificates=pki["ca"].cert.read_bytes(), certificate_chain=chain, private_key=key)
    try:
        deadline = time.monotonic() + 60
        # wait for the process, probing over mutual TLS (health is open to any token); an answer
        # of NOT_SERVING waits like no answer, under the same deadline
        while not _serving(server.target, options):
            assert server.proc.poll() is None, "nn-server exited"
            assert time.monotonic() < deadline, "nn-server did not become SERVING within 60 s"
            time.sleep(0.1)
        for token in (TOKEN, "env-token"):
            with sdk(server.target, token=token, **options) as client:
                assert client.list_jobs() == []
        with sdk(server.target, token="nope", **options) as client:
            assert code_of(client.list_jobs) == grpc.StatusCode.UNAUTHENTICATED
        with sdk(server.target, token=TOKEN) as plaintext:
            assert code_of(plaintext.list_jobs) == grpc.StatusCode.UNAVAILABLE
    finally:
        assert server.stop() == 0
    text = (tmp_path / "server.log").read_text()
    assert "mutual TLS, bearer tokens required" in text and TOKEN not in text and "env-token" not in text


def _serving(target: str, options: dict) -> bool:
    """Whether the server at `target` answers health SERVING (False if it does not answer)."""
    with sdk(target, **options) as client:
        try:
            return client.health().serving
        except NNServiceError:
            return False


@pytest.mark.parametrize("change, fragment", [
    (lambda p, t: dict(tls_cert=p["server"].cert, tls_key=p["client"].key), "do not form a usable pair"),
    (lambda p, t: dict(tls_cert=t / "missing.crt", tls_key=p["server"].key), "tls_cert: cannot read"),
    (lambda p, t: dict(tls_cert=p["server"].cert, tls_key=p["server"].key,
                       tls_client_ca=t / "tokens"), "tls_client_ca: "),
    (lambda p, t: dict(tls_cert=p["server"].cert, tls_key=p["server"].key,  # valid PEM, not a CA
                       tls_client_ca=p["client"].cert), "holds certificates but no CA"),
    (lambda p, t: dict(auth_tokens_file=t / "empty"), "holds no token"),
    (lambda p, t: dict(auth_tokens_file=t / "spaced"), "line 2: a token may not contain spaces"),
])
def test_unusable_access_settings_stop_the_start_with_a_reason(pki, tmp_path, change, fragment):
    (tmp_path / "empty").write_text("# nothing yet\n\n")
    (tmp_path / "spaced").write_text("ok\ntwo words\n")
    (tmp_path / "tokens").write_text("not a certificate\n")
    settings = Settings(state_dir=tmp_path / "state", **change(pki, tmp_path))
    with pytest.raises(ValueError, match=fragment):
        create_server(settings)
    assert not (tmp_path / "state").exists()  # refused before anything was created


def test_a_token_file_others_can_read_is_warned_about_and_still_used(make_server, tmp_path, caplog):
    path = tmp_path / "shared-tokens"
    path.write_text(f"{TOKEN}\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="server.auth"):
        server = make_server(auth_tokens_file=path)
    assert [r.getMessage() for r in caplog.records if r.name == "server.auth"] == [
        f"auth tokens file {path} is readable by others (chmod 600 it)"]
    with sdk(server.target, token=TOKEN) as client:
        assert client.list_jobs() == []
    caplog.clear()
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="server.auth"):
        make_server(auth_tokens_file=path)
    assert not [r for r in caplog.records if r.name == "server.auth"]


@pytest.mark.parametrize("values, fragment", [
    (dict(tls_cert="a.crt"), "tls_cert and tls_key go together"),
    (dict(tls_client_ca="ca.crt"), "needs tls_cert and tls_key"),
    (dict(auth_tokens=("has space",)), "without spaces or commas"),
])
def test_half_an_access_setup_is_refused(values, fragment):
    with pytest.raises(ValueError, match=fragment):
        Settings(**values)


def test_tokens_come_from_the_environment_and_stay_out_of_repr():
    settings = Settings.from_env({"NNSVC_AUTH_TOKENS": "tok-1, tok-2,tok-3", "NNSVC_OPEN_PROBES": "off"})
    assert settings.auth_tokens == ("tok-1", "tok-2", "tok-3") and settings.open_probes is False
    assert "tok-" not in repr(settings) and settings.auth_enabled


def test_nn_server_refuses_to_start_with_unusable_access_flags(tmp_path, pki, capsys):
    (tmp_path / "empty").write_text("# no tokens yet\n")
    state = ["--port", "0", "--state-dir", str(tmp_path / "state")]
    assert server_main([*state, "--auth-tokens-file", str(tmp_path / "empty")]) == 1
    assert server_main([*state, "--tls-cert", str(pki["server"].cert), "--tls-key", str(pki["client"].key)]) == 1
    with pytest.raises(SystemExit) as info:
        server_main([*state, "--tls-cert", str(pki["server"].cert)])
    assert info.value.code == 2 and "tls_cert and tls_key go together" in capsys.readouterr().err


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(value=st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120),
    st.builds(lambda scheme, token: f"{scheme} {token}", st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", ""]),
              st.sampled_from([TOKEN[:-1], TOKEN + "x", TOKEN.upper(), f" {TOKEN}x", "", OTHER_TOKEN + "!"]))))
def test_fuzzed_authorization_metadata_is_unauthenticated(token_server, value):
    with pytest.raises(grpc.RpcError) as info:
        token_server.ListJobs(pb.ListJobsRequest(), metadata=[("authorization", value)], timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture(scope="module")
def token_server(tmp_path_factory, mnist_dir, mnist_cache):
    """A stub on a module-wide server that accepts only TOKEN and OTHER_TOKEN."""
    from tests.conftest import start_server

    settings = Settings(state_dir=tmp_path_factory.mktemp("tokens"), mnist_dir=mnist_dir,
                        auth_tokens=(TOKEN, OTHER_TOKEN), http=False)
    running = start_server(settings, mnist_cache)
    with grpc.insecure_channel(running.target) as channel:
        stub = pb_grpc.NNServiceStub(channel)
        assert stub.ListJobs(pb.ListJobsRequest(), metadata=[("authorization", f"Bearer {TOKEN}")],
                             timeout=10).jobs == []
        yield stub
    running.stop(0)
