"""The HTTP front door's server: on by default beside gRPC, port 0, --no-http, tokens, a taken port."""

from __future__ import annotations

import socket

import httpx
import pytest

from server import Settings, create_server
from server.__main__ import build_parser


def test_http_serves_beside_grpc_on_a_free_port(make_server):
    running = make_server(http=True, http_port=0)
    port = running.server.http_port
    assert port and port != running.port
    answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert answer.status_code == 200 and answer.json() == {"live": True, "ready": True}
    running.stop()
    with pytest.raises(httpx.TransportError):  # stopped with the gRPC server
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_no_http_runs_grpc_alone(make_server):
    assert make_server(http=False).server.http_port is None


def test_http_defaults_to_8080_and_the_flags_change_it():
    defaults = Settings()
    assert defaults.http and defaults.http_port == 8080
    args = build_parser(defaults).parse_args(["--no-http", "--http-port", "9090"])
    assert args.http is False and args.http_port == 9090
    assert Settings.from_env({"NNSVC_HTTP_PORT": "0", "NNSVC_HTTP": "off"}).http_port == 0
    with pytest.raises(ValueError, match="http_port must be an integer in"):
        Settings(http_port=70000)


def test_tokens_guard_http_like_grpc_and_the_probes_stay_open(make_server):
    running = make_server(http=True, http_port=0, auth_tokens=("s3cret",))
    base = f"http://127.0.0.1:{running.server.http_port}"
    refused = httpx.get(f"{base}/v2", timeout=5)
    assert refused.status_code == 401 and "bearer token" in refused.json()["error"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(f"{base}/v2", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401 and "not valid" in wrong.json()["error"]
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # a probe, open by default
    ok = httpx.get(f"{base}/healthz", headers={"Authorization": "Bearer s3cret"}, timeout=5)
    assert ok.status_code == 200


def test_a_taken_http_port_fails_start_up_with_its_name(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen for HTTP on 127.0.0.1:{busy}.*--no-http"):
            create_server(Settings(state_dir=tmp_path, http_port=busy), "127.0.0.1:0")
